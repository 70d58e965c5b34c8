package millstream.parity;

import org.apache.flink.streaming.api.functions.windowing.delta.DeltaFunction;
import org.apache.flink.types.Row;

/** DeltaEvictor's delta of two elements: the absolute difference of their ts fields (field 1). */
public final class TsDelta implements DeltaFunction<Row> {
    @Override
    public double getDelta(Row a, Row b) {
        return Math.abs(Json.field(a, 1) - Json.field(b, 1));
    }
}
