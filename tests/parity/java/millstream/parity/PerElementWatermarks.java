package millstream.parity;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.types.Row;

/**
 * Bounded out-of-orderness {@code d} with the watermark emitted after every element:
 * {@code wm = max_ts_seen - d - 1}, event time taken from the row's {@code ts} field (position 1).
 *
 * <p>Flink's own {@code forBoundedOutOfOrderness} computes the same value but only emits it
 * periodically (never, with {@code pipeline.auto-watermark-interval=0}); the SQL {@code WATERMARK}
 * clause emits per row but its operator starts at watermark 0 and so never emits a negative one.
 * This strategy gives Flink's window and join operators the per-element watermarks millstream uses,
 * for negative timestamps too.
 */
public final class PerElementWatermarks implements WatermarkStrategy<Row> {
    private static final long serialVersionUID = 1L;
    private final long delay;

    public PerElementWatermarks(long delay) {
        this.delay = delay;
    }

    @Override
    public WatermarkGenerator<Row> createWatermarkGenerator(WatermarkGeneratorSupplier.Context context) {
        return new Generator(delay);
    }

    @Override
    public TimestampAssigner<Row> createTimestampAssigner(TimestampAssignerSupplier.Context context) {
        return (row, previous) -> Json.field(row, 1);
    }

    private static final class Generator implements WatermarkGenerator<Row> {
        private final long delay;
        private long maxTimestamp = Long.MIN_VALUE;

        Generator(long delay) {
            this.delay = delay;
        }

        @Override
        public void onEvent(Row event, long eventTimestamp, WatermarkOutput output) {
            maxTimestamp = Math.max(maxTimestamp, eventTimestamp);
            output.emitWatermark(new Watermark(maxTimestamp - delay - 1));
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {}
    }
}
