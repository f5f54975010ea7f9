"""tallyhouse on Apache Spark: the Thrift server, landing mirrored to Parquet, readers."""
