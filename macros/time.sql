{#- Time: zones, business days, epoch milliseconds, spans and series of months.

    Timestamps are instants (type_timestamp, stored in UTC); a wall-clock time without a
    zone is read in the zone it was written in. Adding days or months is dbt.dateadd, the
    start of a month dbt.date_trunc: only what dbt has no macro for is here. Spark has
    from_utc_timestamp / to_utc_timestamp for zones, timestamp_millis, and day-time
    intervals (`ts1 - ts2`, interval '0' day). -#}


{#- ------------------------------------------------------------- time zones -#}

{#- A timestamp without zone read as local time in `zone`, to an instant. -#}
{% macro at_zone(expression, zone) -%}
    {{ return(adapter.dispatch('at_zone', 'tallyhouse')(expression, zone)) }}
{%- endmacro %}

{% macro postgres__at_zone(expression, zone) -%}
    (({{ expression }}) at time zone '{{ zone }}')
{%- endmacro %}

{#- Spark: the wall clock (timestamp_ntz) moved from `zone` to the session's zone and read
    there: the same instant whatever spark.sql.session.timeZone is. -#}
{% macro spark__at_zone(expression, zone) -%}
    cast(convert_timezone('{{ zone }}', current_timezone(), {{ expression }}) as timestamp)
{%- endmacro %}

{#- An instant parsed from text (`parsed`, the safe cast of `raw`); text without an
    explicit zone is local time in `zone` (not the database session's zone). -#}
{% macro local_to_utc(parsed, raw, zone) -%}
    case
        when {{ matches_regex(raw,
                              '\\d:\\d{2}(:\\d{2}(\\.\\d+)?)?\\s*([zZ]|[+-]\\d{2}(:?\\d{2})?)$') }}
            then {{ parsed }}
        else {{ at_zone(safe_cast(raw, type_local_timestamp()), zone) }}
    end
{%- endmacro %}

{#- An instant from epoch milliseconds (a number). -#}
{% macro epoch_ms_to_timestamp(expression) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__epoch_ms_to_timestamp(expression) -%}
    to_timestamp(({{ expression }}) / 1000.0)
{%- endmacro %}

{#- Spark: microseconds, rounded (PostgreSQL's to_timestamp keeps microseconds). -#}
{% macro spark__epoch_ms_to_timestamp(expression) -%}
    timestamp_micros(cast(round(({{ expression }}) * 1000) as bigint))
{%- endmacro %}


{#- ------------------------------------------------------------- days -#}

{#- The business day of an instant: its date in var('business_time_zone'), independent
    of the database session's time zone. -#}
{% macro business_date(expression) -%}
    {{ return(adapter.dispatch('business_date', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__business_date(expression) -%}
    (({{ expression }}) at time zone '{{ var("business_time_zone") }}')::date
{%- endmacro %}

{% macro spark__business_date(expression) -%}
    cast(convert_timezone('{{ var("business_time_zone") }}',
                          cast({{ expression }} as timestamp_ntz)) as date)
{%- endmacro %}

{#- An instant as text for keys: in UTC, so a key does not depend on the session's time
    zone. -#}
{% macro utc_text(expression) -%}
    {{ return(adapter.dispatch('utc_text', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__utc_text(expression) -%}
    (({{ expression }}) at time zone 'UTC')::text
{%- endmacro %}

{% macro spark__utc_text(expression) -%}
    cast(convert_timezone('UTC', cast({{ expression }} as timestamp_ntz)) as string)
{%- endmacro %}


{#- ------------------------------------------------------------- spans -#}

{#- The time from `start` to `end` as an interval to add to an instant, zero when `end`
    is before `start` (days and a time of day, so that adding it keeps the wall clock). -#}
{% macro elapsed_not_negative(start, end) -%}
    {{ return(adapter.dispatch('elapsed_not_negative', 'tallyhouse')(start, end)) }}
{%- endmacro %}

{% macro postgres__elapsed_not_negative(start, end) -%}
    greatest({{ end }} - {{ start }}, interval '0 days')
{%- endmacro %}

{% macro spark__elapsed_not_negative(start, end) -%}
    greatest({{ end }} - {{ start }}, interval '0' day)
{%- endmacro %}

{#- A select-list expression that makes one row per month, the first day of each (a date)
    from the month of `first` to the month of `last`; over a grouped select its
    arguments may be aggregates. -#}
{% macro month_series(first, last) -%}
    {{ return(adapter.dispatch('month_series', 'tallyhouse')(first, last)) }}
{%- endmacro %}

{% macro postgres__month_series(first, last) -%}
    generate_series(
        date_trunc('month', {{ first }}),
        date_trunc('month', {{ last }}),
        interval '1 month'
    )::date
{%- endmacro %}

{#- Spark: no rows when `first` is after `last` or either is null (sequence would fail). -#}
{% macro spark__month_series(first, last) -%}
    explode(case when trunc({{ first }}, 'MM') <= trunc({{ last }}, 'MM')
        then sequence(trunc({{ first }}, 'MM'), trunc({{ last }}, 'MM'), interval 1 month) end)
{%- endmacro %}


{#- dbt.dateadd on Spark. dbt-spark's version goes through to_unix_timestamp (whole
    seconds: 19:06:52.391 + 7 days loses its .391) and raises on a null time
    (assert_not_null); PostgreSQL's `+ interval` keeps the microseconds and gives null.
    timestampadd keeps both (calendar units in the session time zone, UTC). -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- set units = {'day': 'DAY', 'week': 'WEEK', 'month': 'MONTH', 'quarter': 'QUARTER',
                     'year': 'YEAR', 'hour': 'HOUR', 'minute': 'MINUTE', 'second': 'SECOND',
                     'millisecond': 'MILLISECOND', 'microsecond': 'MICROSECOND'} -%}
    {%- if datepart | lower not in units -%}
        {{ exceptions.raise_compiler_error("dateadd: no datepart '" ~ datepart ~ "' on Spark") }}
    {%- endif -%}
    timestampadd({{ units[datepart | lower] }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
