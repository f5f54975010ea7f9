{#-
    Data issues about people. A data issue keeps the raw value it could not read, so an
    analyst can see what arrived; when the field is a person field (a buyer, customer,
    subscriber, client profile or shipping address object that arrived as something else)
    or the value itself holds an e-mail or a CPF / CNPJ, the raw value is a person's
    identifier and stays out of the marts: rpt_data_issues shows a mask, and
    restricted.person_data_issues (role tallyhouse_restricted) keeps the value.
-#}

{#- The staging models that record data issues: (source, feed, model, entity id column,
    when a record is left out of the marts). -#}
{% macro data_issue_readers() %}
    {{ return([
        ('hotmart', 'hotmart_webhooks', 'stg_hotmart__purchase_events',
         'platform_transaction_id',
         'records.platform_transaction_id is null or records.event_at is null'),
        ('hotmart', 'hotmart_webhooks', 'stg_hotmart__subscription_events',
         'platform_subscription_id',
         'records.platform_subscription_id is null or records.event_at is null'),
        ('hotmart', 'hotmart_webhooks', 'stg_hotmart__cart_abandonments', 'cart_key', 'false'),
        ('kiwify', 'kiwify_webhooks', 'stg_kiwify__order_events', 'platform_transaction_id',
         'records.platform_transaction_id is null or records.event_at is null'),
        ('kiwify', 'kiwify_webhooks', 'stg_kiwify__cart_abandonments', 'cart_key', 'false'),
        ('eduzz', 'eduzz_webhooks', 'stg_eduzz__invoice_events', 'platform_transaction_id',
         'records.platform_transaction_id is null or records.event_at is null'),
        ('eduzz', 'eduzz_webhooks', 'stg_eduzz__contract_events', 'platform_subscription_id',
         'records.platform_subscription_id is null'),
        ('eduzz', 'eduzz_webhooks', 'stg_eduzz__cart_abandonments', 'cart_key', 'false'),
        ('pix', 'pix_payments', 'stg_pix__payment_events', 'platform_transaction_id',
         'records.platform_transaction_id is null or records.event_at is null'),
        ('pix', 'pix_orders', 'stg_pix__orders', 'order_id',
         'records.order_id is null or records.snapshot_at is null'),
        ('loyalty', 'loyalty_entries', 'stg_loyalty__entries', 'entry_id',
         'records.entry_id is null or records.account_id is null'
         ~ ' or records.entry_type is null or records.occurred_at is null'),
        ('redemptions', 'redemption_orders', 'stg_redemptions__orders', 'order_number',
         'records.order_number is null'),
        ('redemptions', 'redemption_items', 'stg_redemptions__items', 'item_id',
         'records.item_id is null or records.order_number is null'),
        ('giftcards', 'giftcard_cards', 'stg_giftcards__cards', 'card_id',
         'records.card_id is null'),
        ('giftcards', 'giftcard_transactions', 'stg_giftcards__transactions',
         'giftcard_transaction_id',
         'records.giftcard_transaction_id is null or records.card_id is null'
         ~ ' or records.occurred_at is null'),
        ('payouts', 'payout_lines', 'stg_payouts__lines', 'payout_id',
         'records.payout_id is null or records.platform is null'),
    ]) }}
{% endmacro %}

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

{% macro masked_person_value() -%}
    '[person data: see restricted.person_data_issues]'
{%- endmacro %}
