package millstream.parity;

import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.types.Row;

/** Keys a parity input row (k, ts, v, rt) by its first field. */
public final class RowKey implements KeySelector<Row, String> {
    @Override
    public String getKey(Row row) {
        return (String) row.getField(0);
    }
}
