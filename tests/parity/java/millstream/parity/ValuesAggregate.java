package millstream.parity;

import java.util.ArrayList;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.types.Row;

/** Incremental window aggregate collecting the values (field v) of a window's elements. */
public final class ValuesAggregate implements AggregateFunction<Row, ArrayList<Long>, ArrayList<Long>> {
    private static final long serialVersionUID = 1L;

    @Override
    public ArrayList<Long> createAccumulator() {
        return new ArrayList<>();
    }

    @Override
    public ArrayList<Long> add(Row value, ArrayList<Long> accumulator) {
        accumulator.add(Json.field(value, 2));
        return accumulator;
    }

    @Override
    public ArrayList<Long> getResult(ArrayList<Long> accumulator) {
        return accumulator;
    }

    @Override
    public ArrayList<Long> merge(ArrayList<Long> a, ArrayList<Long> b) {
        ArrayList<Long> merged = new ArrayList<>(a);
        merged.addAll(b);
        return merged;
    }
}
