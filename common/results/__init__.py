"""Results tables: each run's rows in the warehouse, the leads' history, the recovery KPIs."""
