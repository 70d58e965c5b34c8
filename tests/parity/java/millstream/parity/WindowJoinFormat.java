package millstream.parity;

import org.apache.flink.api.common.functions.JoinFunction;
import org.apache.flink.types.Row;

/** Emits ["j", key, left ts, left v, right ts, right v] for each window-join pair. */
public final class WindowJoinFormat implements JoinFunction<Row, Row, String> {
    @Override
    public String join(Row left, Row right) {
        return "[\"j\"," + Json.quote(left.getField(0)) + "," + Json.field(left, 1) + ","
                + Json.field(left, 2) + "," + Json.field(right, 1) + "," + Json.field(right, 2) + "]";
    }
}
