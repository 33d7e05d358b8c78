#!/usr/bin/env python3
"""Spark reading Lagoa data files whose master keys are in a KMS.

Run by tests/it/keys_kms.rs with the KMS client of interop/spark compiled into
CLASSES (a directory of .class files):

    spark_read_kms.py ENDPOINT ALIAS_PREFIX CLASSES COLUMNS FILE...

Spark runs in local mode with parquet-java's PropertiesDrivenCryptoFactory and
lagoa.interop.LagoaKmsClient; the rows of COLUMNS (comma-separated) are printed
as one JSON object per line. AWS credentials come from the environment.
"""

import json
import sys

from pyspark.sql import SparkSession


def main() -> int:
    endpoint, prefix, classes, columns, *files = sys.argv[1:]
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("lagoa-kms-interop")
        .config("spark.driver.extraClassPath", classes)
        .config("spark.ui.enabled", "false")
        .config("spark.hadoop.parquet.crypto.factory.class",
                "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory")
        .config("spark.hadoop.parquet.encryption.kms.client.class", "lagoa.interop.LagoaKmsClient")
        .config("spark.hadoop.lagoa.kms.endpoint", endpoint)
        .config("spark.hadoop.lagoa.kms.alias.prefix", prefix)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        rows = spark.read.parquet(*files).select(*columns.split(",")).collect()
    finally:
        spark.stop()
    for row in rows:
        print(json.dumps(row.asDict(), default=str, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
