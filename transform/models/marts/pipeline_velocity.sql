{#- Sales velocity per pipeline and UTC month: open deals × average won value × win rate ÷ average cycle length,
    in reporting currency per day.

    open_deals: deals open in the pipeline at the end of the month (this month: now), from daily_pipeline;
    won/lost: deals of the pipeline won/lost in the month (main_bi); avg_won_value: their average value in the
    reporting currency; win_rate: won / (won + lost); avg_cycle_days: average days from add_time to won_time of
    the month's won deals. NULL where a factor is unknown (no won deal, no close in the month). -#}
{{ config(primary_key=['pipeline_id', 'month']) }}

with daily as (

    select * from {{ ref('daily_pipeline') }}

),

month_ends as (

    select
        pipeline_id,
        cast(date_trunc('month', day) as date) as month,
        max(day) as last_day
    from daily
    group by 1, 2

),

open_at_month_end as (

    select
        month_ends.pipeline_id,
        month_ends.month,
        sum(daily.open_deals) as open_deals,
        sum(daily.open_value) as open_value
    from month_ends
    inner join daily
        on daily.pipeline_id = month_ends.pipeline_id
        and daily.day = month_ends.last_day
    group by 1, 2

),

closes as (

    select
        pipeline_id,
        cast(date_trunc('month', case when status = 'won' then won_time else lost_time end at time zone 'UTC')
            as date) as month,
        status,
        value_reporting,
        extract(epoch from won_time - add_time) / 86400.0 as cycle_days
    from {{ ref('main_bi') }}
    where not is_deleted
        and status in ('won', 'lost')
        and pipeline_id is not null

),

monthly_closes as (

    select
        pipeline_id,
        month,
        count(*) filter (where status = 'won') as won_deals,
        count(*) filter (where status = 'lost') as lost_deals,
        avg(value_reporting) filter (where status = 'won') as avg_won_value,
        avg(cycle_days) filter (where status = 'won' and cycle_days >= 0) as avg_cycle_days
    from closes
    where month is not null
    group by 1, 2

),

final as (

    select
        open_at_month_end.pipeline_id,
        pipelines.name as pipeline_name,
        open_at_month_end.month,
        open_at_month_end.open_deals,
        open_at_month_end.open_value,
        coalesce(monthly_closes.won_deals, 0) as won_deals,
        coalesce(monthly_closes.lost_deals, 0) as lost_deals,
        cast(monthly_closes.avg_won_value as numeric(20, 4)) as avg_won_value,
        cast(
            monthly_closes.won_deals::numeric / nullif(monthly_closes.won_deals + monthly_closes.lost_deals, 0)
            as numeric(10, 6)
        ) as win_rate,
        cast(monthly_closes.avg_cycle_days as numeric(14, 4)) as avg_cycle_days,
        cast(
            open_at_month_end.open_deals * monthly_closes.avg_won_value
            * monthly_closes.won_deals::numeric / nullif(monthly_closes.won_deals + monthly_closes.lost_deals, 0)
            / nullif(monthly_closes.avg_cycle_days, 0)
            as numeric(20, 4)
        ) as velocity_per_day
    from open_at_month_end
    left join monthly_closes
        on monthly_closes.pipeline_id = open_at_month_end.pipeline_id
        and monthly_closes.month = open_at_month_end.month
    left join {{ ref('stg_pipedrive__pipelines') }} as pipelines on pipelines.id = open_at_month_end.pipeline_id

)

select * from final
