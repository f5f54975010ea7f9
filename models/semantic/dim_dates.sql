-- One row per calendar day: MetricFlow's time spine (metric_time), and a date dimension for
-- analysts. The range covers every business day the warehouse can hold.
with

days as (
    {{ dbt.date_spine('day', "cast('2000-01-01' as date)", "cast('2101-01-01' as date)") }}
)

select cast(date_day as date) as date_day
from days
