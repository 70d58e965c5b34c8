package millstream.parity;

import java.util.List;

/** Tiny JSON array writer for parity results (keys are plain identifiers, values are longs). */
final class Json {
    private Json() {}

    static String quote(Object s) {
        return "\"" + String.valueOf(s).replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static String longs(List<Long> values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append(values.get(i));
        }
        return b.append(']').toString();
    }

    static long field(org.apache.flink.types.Row row, int pos) {
        return ((Number) row.getField(pos)).longValue();
    }
}
