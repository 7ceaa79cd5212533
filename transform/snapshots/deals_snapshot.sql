{#- Every state the pipeline has seen of each deal's stage, status, value, owner and expected close date (SCD
    type 2), captured at each build: the history a user with deal_history off, or a changelog backfill not yet
    finished, still has from the day they started syncing.

    Strategy `check` on those columns, not `timestamp` on update_time: update_time moves on every edit (a note, a
    custom field, a label), so a timestamp snapshot would write a new version for changes nobody analyses; and a
    deal the loader marks deleted (_sdc_deleted_at) keeps its update_time, so only `check` sees it. dbt_valid_from
    is the build that saw a state; when the deal changed is read from its own columns (stage_change_time,
    won_time, lost_time), which the snapshot keeps. -#}
{% snapshot deals_snapshot %}

{{
    config(
        unique_key='id',
        strategy='check',
        check_cols=['stage_id', 'pipeline_id', 'status', 'value', 'currency', 'owner_id', 'expected_close_date',
                    'is_deleted'],
    )
}}

with source as (

    {{ pipeboard_read_source('deals').sql }}

)

select
    id,
    pipeline_id,
    stage_id,
    status,
    value,
    currency,
    owner_id,
    expected_close_date,
    {{ pipeboard_is_deleted() }} as is_deleted,
    add_time,
    update_time,
    stage_change_time,
    won_time,
    lost_time
from source

{% endsnapshot %}
