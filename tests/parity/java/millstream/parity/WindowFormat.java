package millstream.parity;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/** Emits ["w", key, start, end, count, sum, sorted values] for each firing of a time window. */
public final class WindowFormat extends ProcessWindowFunction<Row, String, String, TimeWindow> {
    @Override
    public void process(String key, Context ctx, Iterable<Row> elements, Collector<String> out) {
        List<Long> values = new ArrayList<>();
        long sum = 0;
        for (Row r : elements) {
            long v = Json.field(r, 2);
            values.add(v);
            sum += v;
        }
        Collections.sort(values);
        TimeWindow w = ctx.window();
        out.collect("[\"w\"," + Json.quote(key) + "," + w.getStart() + "," + w.getEnd() + ","
                + values.size() + "," + sum + "," + Json.longs(values) + "]");
    }
}
