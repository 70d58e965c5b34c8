package millstream.corpus;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;

/**
 * Flink's bounded-out-of-orderness generator ({@code wm = max_ts - delay - 1}) emitting its watermark
 * after every element instead of every {@code pipeline.auto-watermark-interval} (200 ms): the one
 * schedule of Flink's periodic emission that does not depend on speed, and the one millstream uses.
 */
public final class PerElementGenerator<T> implements WatermarkGeneratorSupplier<T> {
    private static final long serialVersionUID = 1L;
    private final long delay;

    public PerElementGenerator(long delay) {
        this.delay = delay;
    }

    @Override
    public WatermarkGenerator<T> createWatermarkGenerator(WatermarkGeneratorSupplier.Context context) {
        return new Generator<>(delay);
    }

    private static final class Generator<T> implements WatermarkGenerator<T> {
        private final long delay;
        private long maxTimestamp = Long.MIN_VALUE;

        Generator(long delay) {
            this.delay = delay;
        }

        @Override
        public void onEvent(T event, long eventTimestamp, WatermarkOutput output) {
            if (eventTimestamp > maxTimestamp) {
                maxTimestamp = eventTimestamp;
                output.emitWatermark(new Watermark(maxTimestamp - delay - 1));
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {}
    }
}
