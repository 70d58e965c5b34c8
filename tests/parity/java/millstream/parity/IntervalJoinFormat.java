package millstream.parity;

import org.apache.flink.streaming.api.functions.co.ProcessJoinFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/** Emits ["j", key, left ts, left v, right ts, right v, output timestamp] for each interval-join pair. */
public final class IntervalJoinFormat extends ProcessJoinFunction<Row, Row, String> {
    @Override
    public void processElement(Row left, Row right, Context ctx, Collector<String> out) {
        out.collect("[\"j\"," + Json.quote(left.getField(0)) + "," + Json.field(left, 1) + ","
                + Json.field(left, 2) + "," + Json.field(right, 1) + "," + Json.field(right, 2) + ","
                + ctx.getTimestamp() + "]");
    }
}
