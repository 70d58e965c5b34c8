package millstream.parity;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.GlobalWindow;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/** Emits ["c", key, values in window order] for each firing of a count window. */
public final class CountFormat extends ProcessWindowFunction<Row, String, String, GlobalWindow> {
    @Override
    public void process(String key, Context ctx, Iterable<Row> elements, Collector<String> out) {
        List<Long> values = new ArrayList<>();
        for (Row r : elements) {
            values.add(Json.field(r, 2));
        }
        out.collect("[\"c\"," + Json.quote(key) + "," + Json.longs(values) + "]");
    }
}
