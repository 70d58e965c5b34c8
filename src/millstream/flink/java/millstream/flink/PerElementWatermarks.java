package millstream.flink;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * millstream's watermark rule on Flink: bounded out-of-orderness {@code d} with the watermark
 * {@code max_ts_seen - d - 1} emitted after every element (SEMANTICS.md), not periodically.
 *
 * <p>Flink's own {@code forBoundedOutOfOrderness} computes the same value but emits it only every
 * {@code pipeline.auto-watermark-interval}, which makes window results depend on machine speed. The
 * timestamp assigner is added by the caller ({@code withTimestampAssigner}).
 */
public final class PerElementWatermarks implements WatermarkStrategy<Object> {
    private static final long serialVersionUID = 1L;
    private final long delay;

    public PerElementWatermarks(long delay) {
        this.delay = delay;
    }

    @Override
    public WatermarkGenerator<Object> createWatermarkGenerator(WatermarkGeneratorSupplier.Context context) {
        return new Generator(delay);
    }

    private static final class Generator implements WatermarkGenerator<Object> {
        private final long delay;
        private long maxTimestamp = Long.MIN_VALUE;
        private long emitted = Long.MIN_VALUE;

        Generator(long delay) {
            this.delay = delay;
        }

        @Override
        public void onEvent(Object event, long eventTimestamp, WatermarkOutput output) {
            maxTimestamp = Math.max(maxTimestamp, eventTimestamp);
            long wm = maxTimestamp - delay - 1;
            if (wm > emitted) {
                emitted = wm;
                output.emitWatermark(new Watermark(wm));
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {}
    }
}
