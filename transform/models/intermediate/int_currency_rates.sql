{#- Per currency: the rate into the reporting currency and where it came from.

    The reporting currency is the var reporting_currency (PIPEBOARD_REPORTING_CURRENCY), else the default
    currency of the Pipedrive user whose token loaded the data, else the currency Pipedrive's deals summary
    converts into. A currency's rate is, in this order of precedence:
      1. same_currency: it is the reporting currency (rate 1);
      2. seed: your row (currency, reporting_currency) in seeds/currency_rates.csv: what you set wins;
      3. pipedrive: Pipedrive's own rate, the last the deals summary gave for the currency
         (deal_currency_rates). The summary converts into one currency T; into another reporting currency R
         the rate is rate(X→T) / rate(R→T), so R needs a rate of its own in the summary (deals in R).
    None of these: no row (value_reporting is NULL). -#}
with users as (

    select * from {{ ref('stg_pipedrive__users') }}

),

seed_rates as (

    select * from {{ ref('currency_rates') }}

),

summary_rates as (

    {#- rows the loader marked deleted too: a currency that left the summary (its deals were all archived or
        deleted) keeps the last rate Pipedrive gave it -#}
    select * from {{ ref('stg_pipedrive__deal_currency_rates') }}
    where target_currency is not null

),

summary_target as (

    {#- the currency the latest summary converted into -#}
    select target_currency
    from summary_rates
    order by read_at desc nulls last, currency
    limit 1

),

into_summary_target as (

    {#- rates into that currency: the target itself at 1, and every other currency's latest read -#}
    select distinct on (currency) currency, rate
    from (
        select
            target_currency as currency,
            cast(1 as numeric) as rate,
            cast(null as timestamptz) as read_at,
            0 as preference
        from summary_target
        union all
        select summary_rates.currency, summary_rates.rate, summary_rates.read_at, 1
        from summary_rates
        inner join summary_target on summary_target.target_currency = summary_rates.target_currency
        where summary_rates.rate > 0
    ) as candidates
    order by currency, preference, read_at desc nulls last

),

reporting as (

    select coalesce(
        nullif({{ pipeboard_literal(env_var('PIPEBOARD_REPORTING_CURRENCY', var('reporting_currency'))) }}, ''),
        (select default_currency from users where is_you order by id limit 1),
        (select target_currency from summary_target)
    ) as reporting_currency

),

pipedrive_rates as (

    select
        rates.currency,
        rates.rate / reporting_rate.rate as rate
    from into_summary_target as rates
    cross join reporting
    inner join into_summary_target as reporting_rate on reporting_rate.currency = reporting.reporting_currency

),

candidates as (

    select
        reporting.reporting_currency as currency,
        cast(1 as numeric) as rate,
        'same_currency' as rate_source,
        1 as precedence
    from reporting
    where reporting.reporting_currency is not null

    union all

    select
        seed_rates.currency,
        seed_rates.rate,
        'seed' as rate_source,
        2 as precedence
    from seed_rates
    inner join reporting on reporting.reporting_currency = seed_rates.reporting_currency

    union all

    select
        currency,
        rate,
        'pipedrive' as rate_source,
        3 as precedence
    from pipedrive_rates

),

final as (

    select distinct on (candidates.currency)
        reporting.reporting_currency,
        candidates.currency,
        candidates.rate,
        candidates.rate_source
    from candidates
    cross join reporting
    order by candidates.currency, candidates.precedence

)

select * from final
