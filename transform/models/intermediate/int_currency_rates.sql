{#- Per currency: the rate into the reporting currency and where it came from. The reporting currency is the var
    reporting_currency, else the default currency of the Pipedrive user whose token loaded the data. Rates come
    from the currency_rates seed you maintain; a deal already in the reporting currency needs none. -#}
with users as (

    select * from {{ ref('stg_pipedrive__users') }}

),

seed_rates as (

    select * from {{ ref('currency_rates') }}

),

reporting as (

    select coalesce(
        nullif({{ pipeboard_literal(env_var('PIPEBOARD_REPORTING_CURRENCY', var('reporting_currency'))) }}, ''),
        (select default_currency from users where is_you order by id limit 1)
    ) as reporting_currency

),

final as (

    select
        reporting.reporting_currency,
        reporting.reporting_currency as currency,
        cast(1 as numeric) as rate,
        'same_currency' as rate_source
    from reporting
    where reporting.reporting_currency is not null

    union all

    select
        reporting.reporting_currency,
        seed_rates.currency,
        seed_rates.rate,
        'seed' as rate_source
    from seed_rates
    inner join reporting on reporting.reporting_currency = seed_rates.reporting_currency
    where seed_rates.currency <> reporting.reporting_currency

)

select * from final
