-- One row per purchase event of every platform, in one shape. Subscription-only
-- events (Kiwify subscription_canceled) stay out: they change no transaction status.
-- A view: int_transaction_events_mapped reads the touched transactions' events through
-- it, by the staging tables' indexes, rather than from a copy of every event.
{{ config(materialized='view') }}

{{ purchase_events() }}
