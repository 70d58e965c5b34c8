package millstream.parity;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.types.Row;

/** Formats a late (side-output) input row as ["late", key, ts, v]. */
public final class LateFormat implements MapFunction<Row, String> {
    @Override
    public String map(Row r) {
        return "[\"late\"," + Json.quote(r.getField(0)) + "," + Json.field(r, 1) + "," + Json.field(r, 2) + "]";
    }
}
