"""Apache Spark as the processing engine past one machine (DMP_ENGINE=spark): the cluster and its SQL."""
