"""Built-in connectors: FileStreamSource/FileStreamSink (Kafka's), datagen (Confluent's quickstarts), console
sink."""
