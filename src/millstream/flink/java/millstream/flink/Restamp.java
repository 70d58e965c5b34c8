package millstream.flink;

import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Gives each record the timestamp a Python operator computed for it: the input is {@code (timestamp,
 * pickled value)}, the output the pickled value carrying that timestamp. PyFlink's Python operators stamp
 * their outputs with their input's timestamp and cannot set one; millstream (and Java Flink) stamp a window
 * firing with the window's end - 1, a count window's with {@code Long.MAX_VALUE} and an interval join's with
 * {@code max(left, right)}. Watermarks pass through unchanged.
 */
public final class Restamp extends AbstractStreamOperator<byte[]>
        implements OneInputStreamOperator<Tuple2<Long, byte[]>, byte[]> {
    private static final long serialVersionUID = 1L;

    @Override
    public void processElement(StreamRecord<Tuple2<Long, byte[]>> element) throws Exception {
        Tuple2<Long, byte[]> stamped = element.getValue();
        output.collect(element.replace(stamped.f1, stamped.f0));
    }
}
