{#- Each deal's stage visits follow one another: a visit starts no earlier than the previous one ended, only the
    last can be open or closed by won/lost/deleted, a move names the stage of the next visit, and no visit ends
    before it starts. Lists the offending visits; a warning (odd source data must not stop the pipeline). -#}
{{ config(severity='warn') }}
with visits as (

    select
        *,
        lead(entered_at) over (partition by deal_id order by visit_number) as next_entered_at,
        lead(stage_id) over (partition by deal_id order by visit_number) as following_stage_id,
        max(visit_number) over (partition by deal_id) as last_visit
    from {{ ref('deal_stage_history') }}

)

select deal_id, visit_number, stage_id, entered_at, exited_at, left_by, next_stage_id
from visits
where exited_at < entered_at
    or (visit_number < last_visit and (left_by <> 'stage' or next_entered_at <> exited_at))
    or (visit_number < last_visit and next_stage_id is distinct from following_stage_id)
    or (visit_number = last_visit and left_by = 'stage')
    or (left_by = 'still_there' and exited_at is not null)
