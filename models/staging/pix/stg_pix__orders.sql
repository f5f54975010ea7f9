{{ config(materialized='incremental', unique_key='record_hash', incremental_strategy='append',
          on_schema_change='append_new_columns',
          indexes=[{'columns': ['_load_seq']}, {'columns': ['order_id']}]) }}

{%- set issues = [] %}
{%- set payment_cents = plausible_cents(safe_cast(json_text('p.value', 'value'), type_bigint())) %}

with

source as {{ materialized_hint() }} (
    {{ raw_payloads(source('pix', 'pix_orders')) }}
),

orders as (
    select
        *,
        {{ json_array(json_get('body', 'payments'), 'payments', issues) }} as order_payments,
        {{ json_array(json_get('body', 'items'), 'items', issues) }} as order_items,
        {{ json_object(json_get('body', 'shippingData'), 'shippingData', issues) }}
            as shipping,
        {{ json_object(json_get('body', 'clientProfileData'), 'clientProfileData', issues) }}
            as client
    from source
),

renamed as (
    select
        {{ record_lineage() }},
        {{ required("nullif(" ~ json_text('body', 'orderId') ~ ", '')", 'orderId', issues) }}
            as order_id,
        {{ plausible_time(timestamp(json_text('body', 'creationDate'), 'creationDate', issues),
                          'pix', 'creationDate', issues) }} as ordered_at,
        {{ required(timestamp(json_text('body', 'lastChange'), 'lastChange', issues),
                    'lastChange', issues,
                    raw="nullif(" ~ json_text('body', 'lastChange') ~ ", '')") }}
            as snapshot_at,
        {{ json_text('body', 'status') }} as order_status,
        {{ cents(json_text('body', 'value'), 'value', issues) }} as order_total_amount,
        {%- do check_elements('order_payments', 'value', type_bigint(), 'payments[].value',
                              issues, cents=true) %}
        {% call json_elements_scalar('order_payments', 'p',
                {'total': {'kind': 'sum', 'value': payment_cents,
                           'where': json_text('p.value', 'paymentSystem') ~ " = 'GiftCard'"}},
                result='cast(cast(coalesce(total, 0) as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select
                cast(coalesce(sum({{ payment_cents }}), 0) as {{ type_numeric() }}) / 100
            from {{ json_elements('order_payments', 'p') }}
            where {{ json_text('p.value', 'paymentSystem') }} = 'GiftCard'
        ) as {{ type_money() }})
        {%- endcall %} as giftcard_amount,
        {% call json_elements_scalar('order_payments', 'p',
                {'total': {'kind': 'sum', 'value': payment_cents,
                           'where': json_text('p.value', 'paymentSystem') ~ " = 'PIX'"}},
                result='cast(cast(coalesce(total, 0) as ' ~ type_numeric() ~ ') / 100 as '
                    ~ type_money() ~ ')') -%}
        cast((
            select
                cast(coalesce(sum({{ payment_cents }}), 0) as {{ type_numeric() }}) / 100
            from {{ json_elements('order_payments', 'p') }}
            where {{ json_text('p.value', 'paymentSystem') }} = 'PIX'
        ) as {{ type_money() }})
        {%- endcall %} as pix_amount,
        {% call json_elements_scalar('order_payments', 'p',
                {'first': {'kind': 'first', 'value': json_text('p.value', 'giftCardId'),
                           'where': json_text('p.value', 'paymentSystem') ~ " = 'GiftCard'",
                           'order_by': json_text('p.value', 'giftCardId')}}) -%}
        (
            select {{ json_text('p.value', 'giftCardId') }}
            from {{ json_elements('order_payments', 'p') }}
            where {{ json_text('p.value', 'paymentSystem') }} = 'GiftCard'
            order by {{ json_text('p.value', 'giftCardId') }}
            limit 1
        )
        {%- endcall %} as giftcard_id,
        order_payments as payments,
        order_items as items,
        {{ json_text('body', 'consultantId') }} as consultant_id,
        {{ timestamp(json_text('shipping', 'shippedDate'), 'shippingData.shippedDate',
                     issues) }} as shipped_at,
        {{ timestamp(json_text('shipping', 'deliveredDate'), 'shippingData.deliveredDate',
                     issues) }} as delivered_at,
        lower({{ json_text('client', 'email') }}) as customer_email,
        {{ data_issues_column(issues) }} as data_issues
    from orders
)

select * from renamed
