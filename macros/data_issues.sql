{#-
    Data issues about people. A data issue keeps the raw value it could not read, so an
    analyst can see what arrived; when the field is a person field (a buyer, customer,
    subscriber, client profile or shipping address object that arrived as something else)
    or the value itself holds an e-mail or a CPF / CNPJ, the raw value is a person's
    identifier and stays out of the marts: rpt_data_issues shows a mask, and
    restricted.person_data_issues (role tallyhouse_restricted) keeps the value.
-#}

{#- Fields whose value, whatever shape it arrives in, is about a person. -#}
{% macro person_fields() %}
    {{ return(['data', 'data.buyer', 'data.subscriber', 'data.producer', 'Customer',
               'clientProfileData', 'shippingData', 'Payment']) }}
{% endmacro %}

{#- True when a data issue's raw value may identify a person. -#}
{% macro is_person_data(field, value) -%}
    ({{ field }} in ('{{ person_fields() | join("', '") }}')
     or {{ tallyhouse.looks_like_identifier(value) }})
{%- endmacro %}

{#- The value holds an e-mail address or a CPF / CNPJ (with or without punctuation). -#}
{% macro looks_like_identifier(value) -%}
    {{ return(adapter.dispatch('looks_like_identifier', 'tallyhouse')(value)) }}
{%- endmacro %}

{% macro postgres__looks_like_identifier(value) -%}
    coalesce(
        {{ value }} ~ '[^[:space:]@]+@[^[:space:]@]+\.[A-Za-z]{2,}'
        or {{ value }} ~ '(^|[^0-9])([0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}|[0-9]{2}\.?[0-9]{3}\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2})([^0-9]|$)',
        false
    )
{%- endmacro %}

{% macro spark__looks_like_identifier(value) -%}
    coalesce(
        {{ tallyhouse.spark__matches_regex(value, '[^[:space:]@]+@[^[:space:]@]+\\.[A-Za-z]{2,}') }}
        or {{ tallyhouse.spark__matches_regex(value, '(^|[^0-9])([0-9]{3}\\.?[0-9]{3}\\.?[0-9]{3}-?[0-9]{2}|[0-9]{2}\\.?[0-9]{3}\\.?[0-9]{3}/?[0-9]{4}-?[0-9]{2})([^0-9]|$)') }},
        false
    )
{%- endmacro %}

{% macro masked_person_value() -%}
    '[person data: see restricted.person_data_issues]'
{%- endmacro %}
