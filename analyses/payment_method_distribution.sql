-- docs/analyses.md, payment methods, against the marts (grouped by currency
-- too; the percentage is of the approved transactions in that currency).
select
    t.payment_method::text as payment_method,
    t.currency_code,
    count(t.transaction_key) as transaction_count,
    sum(t.offer_price) as total_value,
    round((count(t.transaction_key) * 100.0 / (
        select count(*) from {{ ref('fct_transactions') }} as a
        where
            a.status = (
                select s.status_code from {{ ref('transaction_statuses') }} as s
                where s.label_pt = 'Aprovada'
            )
            and a.currency_code = t.currency_code
            and a.order_date between '{{ var("analysis_start") }}' and '{{ var("analysis_end") }}'
    )), 2) as percentage
from {{ ref('fct_transactions') }} as t
where
    t.status = (
        select s.status_code from {{ ref('transaction_statuses') }} as s
        where s.label_pt = 'Aprovada'
    )
    and t.order_date between '{{ var("analysis_start") }}' and '{{ var("analysis_end") }}'
group by t.payment_method, t.currency_code
order by transaction_count desc
