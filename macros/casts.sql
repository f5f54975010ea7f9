{#- Column types and casts.

    A model casts with plain SQL, `cast(x as {{ type_money() }})`, and names the type
    through this family: dbt's type_string / type_int cover text and integers, not an
    amount of money, an instant or JSON, and PostgreSQL's names (timestamptz, jsonb) are
    not the warehouse's. Each warehouse has one table of its types (postgres__column_types;
    Spark's would say string, decimal(18, 2), timestamp, timestamp_ntz; JSON kept as text).

    A safe cast is null where the text does not read as the type, never an error:
    PostgreSQL asks pg_input_is_valid first; Spark (ANSI mode, where a failing cast raises)
    has try_cast. -#}


{#- ------------------------------------------------------------------ types -#}

{#- The warehouse's name for one of the project's column types:
      text, int, bigint, numeric (any precision), money (an amount in currency units,
      2 decimal places), money_total (a sum of amounts, or a reconciliation report's
      expected / actual / difference: 2 decimal places, wide enough for any sum of money
      amounts, DECISIONS.md 2026-12-03), points (whole points and their sums), boolean,
      date, timestamp (an instant, UTC), local_timestamp (a wall-clock time without zone),
      json (a parsed JSON value).
    The marts' contracts name the same types (data_type: numeric(18, 2), numeric(38, 2),
    numeric(38, 0)): never a bare numeric, which Spark reads as decimal(10, 0). -#}
{% macro column_type(name) -%}
    {{ return(adapter.dispatch('column_types', 'tallyhouse')()[name]) }}
{%- endmacro %}

{% macro default__column_types() -%}
    {{ return({
        'text': dbt.type_string(), 'int': dbt.type_int(), 'bigint': dbt.type_bigint(),
        'numeric': api.Column.numeric_type('decimal', 38, 10),
        'money': api.Column.numeric_type('decimal', 18, 2),
        'money_total': api.Column.numeric_type('decimal', 38, 2),
        'points': api.Column.numeric_type('decimal', 38, 0), 'boolean': dbt.type_boolean(),
        'date': 'date', 'timestamp': dbt.type_timestamp(), 'local_timestamp': 'timestamp',
        'json': dbt.type_string(),
    }) }}
{%- endmacro %}

{% macro postgres__column_types() -%}
    {{ return({
        'text': 'text', 'int': 'integer', 'bigint': 'bigint', 'numeric': 'numeric',
        'money': 'numeric(18, 2)', 'money_total': 'numeric(38, 2)',
        'points': 'numeric(38, 0)', 'boolean': 'boolean', 'date': 'date',
        'timestamp': 'timestamptz', 'local_timestamp': 'timestamp', 'json': 'jsonb',
    }) }}
{%- endmacro %}

{#- Spark: json is VARIANT inside queries (macros/json.sql); a mart stores it as to_json
    text. numeric: decimal(38, 10) (PostgreSQL's numeric has no limit). -#}
{% macro spark__column_types() -%}
    {{ return({
        'text': 'string', 'int': 'int', 'bigint': 'bigint', 'numeric': 'decimal(38, 10)',
        'money': 'decimal(18, 2)', 'money_total': 'decimal(38, 2)',
        'points': 'decimal(38, 0)', 'boolean': 'boolean', 'date': 'date',
        'timestamp': 'timestamp', 'local_timestamp': 'timestamp_ntz', 'json': 'variant',
    }) }}
{%- endmacro %}

{#- One macro per type, for call sites: cast(x as {{ type_money() }}). -#}
{% macro type_text() %}{{ return(column_type('text')) }}{% endmacro %}
{% macro type_int() %}{{ return(column_type('int')) }}{% endmacro %}
{% macro type_bigint() %}{{ return(column_type('bigint')) }}{% endmacro %}
{% macro type_numeric() %}{{ return(column_type('numeric')) }}{% endmacro %}
{% macro type_money() %}{{ return(column_type('money')) }}{% endmacro %}
{% macro type_money_total() %}{{ return(column_type('money_total')) }}{% endmacro %}
{% macro type_points() %}{{ return(column_type('points')) }}{% endmacro %}
{% macro type_boolean() %}{{ return(column_type('boolean')) }}{% endmacro %}
{% macro type_date() %}{{ return(column_type('date')) }}{% endmacro %}
{% macro type_timestamp() %}{{ return(column_type('timestamp')) }}{% endmacro %}
{% macro type_local_timestamp() %}{{ return(column_type('local_timestamp')) }}{% endmacro %}
{% macro type_json() %}{{ return(column_type('json')) }}{% endmacro %}


{#- ------------------------------------------------------------- safe casts -#}

{#- `expression` cast to `type` (one of the types above), or null when the text does not
    read as that type. -#}
{% macro safe_cast(expression, type) -%}
    {{ return(adapter.dispatch('safe_cast', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__safe_cast(expression, type) -%}
    (case
        when pg_input_is_valid(({{ expression }})::text, '{{ type }}')
            then ({{ expression }})::{{ type }}
    end)::{{ type }}
{%- endmacro %}

{#- Spark: what pg_input_is_valid accepts, read the same way (try_cast alone accepts
    '2026', '1.5' as an integer, ' 1 ' …, and rejects '0x1F', '1_000', 'on', '20260501').
    `_spark_readable(text, type)` is the text normalized for try_cast when PostgreSQL reads
    it, null otherwise. Covered: integers (sign, whitespace, 0x / 0o / 0b, _ separators),
    numeric (exponent, NaN / Infinity for an unconstrained numeric only), booleans (t, true,
    yes, on, 1 … and prefixes), dates and timestamps in ISO form (YYYY-MM-DD or YYYYMMDD,
    T or blanks, HH:MM[:SS[.frac]], then Z, ±HH[[:]MM[[:]SS]] or a zone name). Not covered:
    'now', 'epoch', 'infinity', 'May 1 2026', '1/5/2026', second 60 (all null on Spark). -#}
{% macro _spark_trimmed(text) -%}
    regexp_replace(cast({{ text }} as string), '^[\\s]+|[\\s]+$', '')
{%- endmacro %}

{#- (the trimmed text is bound once: _spark_let) -#}
{% macro _spark_readable(text, type) -%}
    {%- set lowered = type | replace(' ', '') | lower -%}
    {%- if lowered in ('int', 'bigint', 'integer', 'boolean', 'date', 'timestamp', 'timestamp_ntz')
          or lowered.startswith('decimal') -%}
    {%- set t = tallyhouse._spark_let_name('trimmed ' ~ text) -%}
    {{ tallyhouse._spark_let(tallyhouse._spark_trimmed(text), t,
        modules.re.sub('\\n\\s*', ' ', tallyhouse._spark_readable_of(t, lowered) | string)) }}
    {%- else -%}
    cast({{ text }} as string)
    {%- endif -%}
{%- endmacro %}

{#- `t` the trimmed text (a name), `type` lowered without blanks. -#}
{% macro _spark_readable_of(t, type) -%}
    {%- set digits = '[0-9](_?[0-9])*' -%}
    {%- if type in ('int', 'bigint', 'integer') -%}
    {#- decimal, or 0x / 0o / 0b: the value as decimal text -#}
    (case
        when {{ t }} rlike '^[+-]?{{ digits }}$'
            then cast(try_cast(replace({{ t }}, '_', '') as {{ type }}) as string)
        when {{ t }} rlike '^[+-]?0[xX](_?[0-9a-fA-F])+$|^[+-]?0[oO](_?[0-7])+$|^[+-]?0[bB](_?[01])+$'
            then cast(try_cast(
                case when startswith({{ t }}, '-') then '-' else '' end
                || conv(substr(replace(regexp_replace({{ t }}, '^[+-]', ''), '_', ''), 3),
                        case lower(substr(regexp_replace({{ t }}, '^[+-]', ''), 2, 1))
                            when 'x' then 16 when 'o' then 8 else 2 end, 10)
                as {{ type }}) as string)
    end)
    {%- elif type.startswith('decimal') -%}
    {%- set unconstrained = type == 'decimal(38,10)' -%}
    {%- set number = '^[+-]?(' ~ digits ~ '([.](' ~ digits ~ ')?)?|[.]' ~ digits ~ ')([eE][+-]?' ~ digits ~ ')?$' -%}
    (case
        when {{ t }} rlike '{{ number }}'
            then case
                when try_cast(replace({{ t }}, '_', '') as {{ type }}) is not null
                    then replace({{ t }}, '_', '')
                {%- if unconstrained %}
                {#- readable, beyond decimal(38, 10): PostgreSQL keeps it, Spark cannot -#}
                when try_cast(replace({{ t }}, '_', '') as double) is not null then 'NaN'
                {%- endif %}
            end
        when lower({{ t }}) = 'nan' then 'NaN'
        {%- if unconstrained %}
        when lower({{ t }}) rlike '^[+-]?(inf|infinity)$' then 'NaN'
        {%- endif %}
    end)
    {%- elif type == 'boolean' -%}
    (case
        when lower({{ t }}) in ('t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on', '1') then 'true'
        when lower({{ t }}) in ('f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off', '0')
            then 'false'
    end)
    {%- elif type in ('date', 'timestamp', 'timestamp_ntz') -%}
    {%- set shape = '^([0-9]{4,5})-?([0-9]{1,2})-?([0-9]{1,2})'
        ~ '(?:(?:[Tt]|\\\\s+)([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})([.][0-9]*)?)?'
        ~ '(?:\\\\s*([zZ]|[+-][0-9]{1,2}(?::?[0-9]{2}){0,2}|[A-Za-z][A-Za-z0-9_/+-]*))?)?$' -%}
    {%- set compact = '^[0-9]{8}(?:$|[Tt\\\\s])' -%}
    {%- set dashed = '^[0-9]{4,5}-[0-9]{1,2}-[0-9]{1,2}(?:$|[Tt\\\\s])' -%}
    {%- set normalized = "regexp_replace(regexp_replace(regexp_replace(" ~ t ~ ", '"
        ~ "^([0-9]{4})([0-9]{2})([0-9]{2})', '$1-$2-$3'), '^([0-9-]+)(?:[Tt]|\\\\s+)', '$1 '), "
        ~ "'\\\\s*[zZ]$', 'Z')" -%}
    (case
        when {{ t }} rlike '{{ shape }}'
            and ({{ t }} rlike '{{ compact }}' or {{ t }} rlike '{{ dashed }}')
            and try_cast({{ normalized }} as {{ 'timestamp_ntz' if type == 'date' else type }}) is not null
            then {{ normalized }}
    end)
    {%- endif -%}
{%- endmacro %}

{% macro spark__safe_cast(expression, type) -%}
    {%- set lowered = type | replace(' ', '') | lower -%}
    {%- if lowered in ('string', 'text') -%}
    cast({{ expression }} as {{ type }})
    {%- elif lowered == 'date' -%}
    cast(try_cast({{ tallyhouse._spark_readable(expression, type) }} as timestamp_ntz) as date)
    {%- else -%}
    try_cast({{ tallyhouse._spark_readable(expression, type) }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- Whether the text reads as `type` (null text counts as readable). -#}
{% macro is_castable(expression, type) -%}
    {{ return(adapter.dispatch('is_castable', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__is_castable(expression, type) -%}
    coalesce(pg_input_is_valid(({{ expression }})::text, '{{ type }}'), true)
{%- endmacro %}

{% macro spark__is_castable(expression, type) -%}
    {%- set lowered = type | replace(' ', '') | lower -%}
    {%- if lowered in ('string', 'text') -%}
    true
    {%- else -%}
    {%- set x = tallyhouse._spark_let_name(expression) -%}
    {{ tallyhouse._spark_let(expression, x,
        '(' ~ x ~ ' is null or ' ~ tallyhouse._spark_readable(x, type) ~ ' is not null)') }}
    {%- endif -%}
{%- endmacro %}


{#- `expression` (text) cast to `type` where the caller has checked that it reads as that
    type (or as a narrower one): the plain cast on PostgreSQL. -#}
{% macro cast_checked(expression, type) -%}
    {{ return(adapter.dispatch('cast_checked', 'tallyhouse')(expression, type)) }}
{%- endmacro %}

{% macro postgres__cast_checked(expression, type) -%}
    {{ return('cast(' ~ expression ~ ' as ' ~ type ~ ')') }}
{%- endmacro %}

{#- Spark: never an error, whatever spark.sql.ansi.enabled (on by default in Spark 4, and
    dbt-spark's `false` does not reach a Thrift session): a text PostgreSQL reads that
    Spark's cast does not (0x1F, 1_000, 'NaN', 20260501) gives null, never a failed
    build. Digit separators are dropped for numbers, as PostgreSQL reads them. -#}
{% macro spark__cast_checked(expression, type) -%}
    {%- set lowered = type | replace(' ', '') | lower -%}
    {%- if lowered in ('int', 'bigint', 'integer') or lowered.startswith('decimal') -%}
    {{ return('try_cast(replace(' ~ expression ~ ", '_', '') as " ~ type ~ ')') }}
    {%- else -%}
    {{ return('try_cast(' ~ expression ~ ' as ' ~ type ~ ')') }}
    {%- endif -%}
{%- endmacro %}
