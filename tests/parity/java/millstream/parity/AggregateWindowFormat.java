package millstream.parity;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/** Formats the result of {@link ValuesAggregate} exactly like {@link WindowFormat} does a window's elements. */
public final class AggregateWindowFormat
        extends ProcessWindowFunction<ArrayList<Long>, String, String, TimeWindow> {
    @Override
    public void process(String key, Context ctx, Iterable<ArrayList<Long>> results, Collector<String> out) {
        List<Long> values = new ArrayList<>();
        for (ArrayList<Long> r : results) {
            values.addAll(r);
        }
        long sum = 0;
        for (long v : values) {
            sum += v;
        }
        Collections.sort(values);
        TimeWindow w = ctx.window();
        out.collect("[\"w\"," + Json.quote(key) + "," + w.getStart() + "," + w.getEnd() + ","
                + values.size() + "," + sum + "," + Json.longs(values) + "]");
    }
}
