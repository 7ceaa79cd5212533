{#- Deals won and lost per pipeline and UTC month of the close, with their value in the reporting currency
    (main_bi's value_reporting: deals without a rate add no value) and the month's win rate. Deleted deals
    are left out. -#}
{{ config(primary_key=['pipeline_id', 'month']) }}

with deals as (

    select * from {{ ref('main_bi') }}
    where not is_deleted
        and status in ('won', 'lost')
        and pipeline_id is not null

),

closes as (

    select
        pipeline_id,
        cast(date_trunc('month', coalesce(
            case when status = 'won' then won_time else lost_time end, close_time
        ) at time zone 'UTC') as date) as month,
        status,
        value_reporting,
        reporting_currency
    from deals

),

final as (

    select
        closes.pipeline_id,
        max(pipelines.name) as pipeline_name,
        closes.month,
        count(*) filter (where status = 'won') as won_deals,
        coalesce(sum(value_reporting) filter (where status = 'won'), 0) as won_value,
        count(*) filter (where status = 'lost') as lost_deals,
        coalesce(sum(value_reporting) filter (where status = 'lost'), 0) as lost_value,
        cast(count(*) filter (where status = 'won') as numeric) / count(*) as win_rate,
        max(reporting_currency) as reporting_currency
    from closes
    left join {{ ref('stg_pipedrive__pipelines') }} as pipelines on pipelines.id = closes.pipeline_id
    where closes.month is not null
    group by closes.pipeline_id, closes.month

)

select * from final
