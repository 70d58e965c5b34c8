package millstream.parity;

import org.apache.flink.api.common.functions.FilterFunction;
import org.apache.flink.types.Row;

/** Keeps the rows of one case input from the shared input table (k, ts, v, input id). */
public final class InputFilter implements FilterFunction<Row> {
    private static final long serialVersionUID = 1L;
    private final int input;

    public InputFilter(int input) {
        this.input = input;
    }

    @Override
    public boolean filter(Row row) {
        return ((Number) row.getField(3)).intValue() == input;
    }
}
