package millstream.parity;

import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Prefixes each JSON result row with its case/API tag and its record timestamp:
 * {@code <prefix> TAB <timestamp or null> TAB <row>}, so one sink can carry every pipeline of a job.
 */
public final class Tag extends ProcessFunction<String, String> {
    private static final long serialVersionUID = 1L;
    private final String prefix;

    public Tag(String prefix) {
        this.prefix = prefix;
    }

    @Override
    public void processElement(String row, Context ctx, Collector<String> out) {
        out.collect(prefix + "\t" + ctx.timestamp() + "\t" + row);
    }
}
