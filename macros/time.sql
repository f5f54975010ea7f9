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


{#- ------------------------------------------------------------- days -#}

{#- The business day of an instant: its date in var('business_time_zone'), independent
    of the database session's time zone. -#}
{% macro business_date(expression) -%}
    {{ return(adapter.dispatch('business_date', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__business_date(expression) -%}
    (({{ expression }}) at time zone '{{ var("business_time_zone") }}')::date
{%- endmacro %}

{#- An instant as text for keys: in UTC, so a key does not depend on the session's time
    zone. -#}
{% macro utc_text(expression) -%}
    {{ return(adapter.dispatch('utc_text', 'tallyhouse')(expression)) }}
{%- endmacro %}

{% macro postgres__utc_text(expression) -%}
    (({{ expression }}) at time zone 'UTC')::text
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
