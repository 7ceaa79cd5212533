{#- deal_stage_history: one row per deal per stage visit, from Pipedrive's changelog where the deal's history is
    complete, else from the deals snapshot.

    Changelog (deal_changes): the first stage is the `old_value` of the deal's first stage move (its current stage
    when it never moved), entered at add_time; each move leaves a stage and enters the next at its time (moves in
    one second are ordered by chaining a move's old stage to the other's new one). The last stage is left at the
    first status change to won/lost/deleted made after it was entered; when none is loaded (a deal created
    closed, or deal_history=stages not re-reading a deal that closed without moving) at the deal's won_time /
    lost_time / update_time (deleted), and is still occupied by an open deal.
    A deal's changelog is used when deal_history is on (deal_history_coverage) and the loaded moves end where
    the deal is: its last move enters its current stage at its stage_change_time, or it never moved.

    Snapshot (deals_snapshot): a visit starts at the first captured state and at every captured state whose
    stage differs from the previous one, entered at the deal's stage_change_time (the first state of a deal that
    never moved: its add_time; else the build that saw it); stages entered and left between two builds are not
    seen. A deal without a stage or an add_time has no visit. -#}
{{ config(primary_key=['deal_id', 'visit_number']) }}

with deals as (

    select
        id as deal_id,
        pipeline_id,
        stage_id,
        status,
        owner_id,
        add_time,
        update_time,
        stage_change_time,
        won_time,
        lost_time,
        is_deleted
    from {{ ref('stg_pipedrive__deals') }}

),

stages as (

    select
        id as stage_id,
        name as stage_name,
        order_nr as stage_order_nr,
        pipeline_id
    from {{ ref('stg_pipedrive__stages') }}

),

pipelines as (

    select id as pipeline_id, name as pipeline_name
    from {{ ref('stg_pipedrive__pipelines') }}

),

coverage as (

    select bool_or(is_active) as history_on
    from {{ ref('stg_pipedrive__deal_history_coverage') }}

),

changes as (

    select * from {{ ref('stg_pipedrive__deal_changes') }}

),

moves as (

    select
        deal_id,
        changed_at,
        change_hash,
        old_stage_id,
        new_stage_id
    from changes
    where field_key = 'stage_id'
        and new_stage_id is not null

),

tied_moves as (

    -- moves sharing their second with another move of the deal (rare)
    select *
    from (
        select moves.*, count(*) over (partition by deal_id, changed_at) as same_second
        from moves
    ) as counted
    where same_second > 1

),

followers as (

    -- in one second, a move that leaves the stage another move of that second entered comes after it
    select distinct
        later.deal_id,
        later.changed_at,
        later.change_hash
    from tied_moves as later
    inner join tied_moves as earlier
        on earlier.deal_id = later.deal_id
        and earlier.changed_at = later.changed_at
        and earlier.change_hash <> later.change_hash
        and earlier.new_stage_id = later.old_stage_id

),

moves_chained as (

    select
        moves.*,
        followers.deal_id is not null as follows_another
    from moves
    left join followers
        on followers.deal_id = moves.deal_id
        and followers.changed_at = moves.changed_at
        and followers.change_hash = moves.change_hash

),

moves_ordered as (

    select
        *,
        row_number() over (
            partition by deal_id order by changed_at, follows_another, change_hash
        ) as move_number,
        count(*) over (partition by deal_id) as moves_count
    from moves_chained

),

closings as (

    select
        deal_id,
        changed_at,
        new_value as closed_as
    from changes
    where field_key = 'status'
        and new_value in ('won', 'lost', 'deleted')

),

deal_sources as (

    select
        deals.deal_id,
        case
            when coalesce(coverage.history_on, false)
                and (
                    (
                        last_move.deal_id is null
                        and coalesce(deals.stage_change_time <= deals.add_time, true)
                    )
                    or (
                        last_move.new_stage_id = deals.stage_id
                        and abs(extract(epoch from last_move.changed_at - deals.stage_change_time)) < 1
                    )
                )
                then 'changelog'
            else 'snapshot'
        end as source
    from deals
    cross join coverage
    left join moves_ordered as last_move
        on last_move.deal_id = deals.deal_id
        and last_move.move_number = last_move.moves_count

),

changelog_visits as (

    -- the stage a deal was created in, until its first move
    select
        deals.deal_id,
        0 as step,
        coalesce(first_move.old_stage_id, deals.stage_id) as stage_id,
        deals.add_time as entered_at,
        first_move.changed_at as moved_at,
        first_move.new_stage_id as next_stage_id,
        true as is_history_complete
    from deals
    inner join deal_sources
        on deal_sources.deal_id = deals.deal_id
        and deal_sources.source = 'changelog'
    left join moves_ordered as first_move
        on first_move.deal_id = deals.deal_id
        and first_move.move_number = 1

    union all

    -- each stage a move entered, until the next move
    select
        entered.deal_id,
        entered.move_number as step,
        entered.new_stage_id as stage_id,
        entered.changed_at as entered_at,
        following.changed_at as moved_at,
        following.new_stage_id as next_stage_id,
        true as is_history_complete
    from moves_ordered as entered
    inner join deal_sources
        on deal_sources.deal_id = entered.deal_id
        and deal_sources.source = 'changelog'
    left join moves_ordered as following
        on following.deal_id = entered.deal_id
        and following.move_number = entered.move_number + 1

),

snapshot_states as (

    select
        id as deal_id,
        stage_id,
        add_time,
        stage_change_time,
        dbt_valid_from,
        row_number() over (partition by id order by dbt_valid_from) as state_number,
        lag(stage_id) over (partition by id order by dbt_valid_from) as previous_stage_id
    from {{ ref('deals_snapshot') }}

),

snapshot_entries as (

    select
        snapshot_states.deal_id,
        snapshot_states.state_number as step,
        snapshot_states.stage_id,
        case
            when snapshot_states.state_number = 1
                then greatest(snapshot_states.stage_change_time, snapshot_states.add_time)
            else coalesce(snapshot_states.stage_change_time, snapshot_states.dbt_valid_from)
        end as entered_at,
        -- the history reaches back to add_time only when the first state seen had never moved
        bool_and(
            case
                when snapshot_states.state_number = 1
                    then coalesce(snapshot_states.stage_change_time <= snapshot_states.add_time, true)
            end
        ) over (partition by snapshot_states.deal_id) as is_history_complete
    from snapshot_states
    inner join deal_sources
        on deal_sources.deal_id = snapshot_states.deal_id
        and deal_sources.source = 'snapshot'
    where snapshot_states.state_number = 1
        or snapshot_states.stage_id is distinct from snapshot_states.previous_stage_id

),

snapshot_ordered as (

    -- a stage_change_time older than the previous visit's start (a clock Pipedrive set back) starts with it
    select
        deal_id,
        step,
        stage_id,
        max(entered_at) over (partition by deal_id order by step rows unbounded preceding) as entered_at,
        is_history_complete
    from snapshot_entries

),

snapshot_visits as (

    select
        deal_id,
        step,
        stage_id,
        entered_at,
        lead(entered_at) over (partition by deal_id order by step) as moved_at,
        lead(stage_id) over (partition by deal_id order by step) as next_stage_id,
        is_history_complete
    from snapshot_ordered

),

visits as (

    select *, 'changelog' as source from changelog_visits
    union all
    select *, 'snapshot' as source from snapshot_visits

),

last_steps as (

    select deal_id, max(step) as last_step
    from visits
    group by deal_id

),

last_visits as (

    select visits.*
    from visits
    inner join last_steps
        on last_steps.deal_id = visits.deal_id
        and last_steps.last_step = visits.step

),

first_closings as (

    -- the first logged close after the deal entered its last stage
    select distinct on (last_visits.deal_id)
        last_visits.deal_id,
        closings.closed_as,
        closings.changed_at
    from last_visits
    inner join closings
        on closings.deal_id = last_visits.deal_id
        and closings.changed_at >= last_visits.entered_at
    where last_visits.source = 'changelog'
    order by last_visits.deal_id, closings.changed_at

),

closed as (

    -- how each deal's last visit ended: the first closing status change after it was entered, else the deal's
    -- own close (status won/lost/deleted or marked deleted by the loader), else it is still there
    select
        last_visits.deal_id,
        coalesce(
            logged.closed_as,
            case
                when deals.status in ('won', 'lost', 'deleted') then deals.status
                when deals.is_deleted then 'deleted'
            end
        ) as left_by,
        coalesce(
            logged.changed_at,
            case
                when deals.status = 'won'
                    then greatest(last_visits.entered_at, coalesce(deals.won_time, deals.update_time))
                when deals.status = 'lost'
                    then greatest(last_visits.entered_at, coalesce(deals.lost_time, deals.update_time))
                when deals.status = 'deleted' or deals.is_deleted
                    then greatest(last_visits.entered_at, deals.update_time)
            end
        ) as closed_at
    from last_visits
    inner join deals on deals.deal_id = last_visits.deal_id
    left join first_closings as logged on logged.deal_id = last_visits.deal_id

),

final as (

    select
        visits.deal_id,
        cast(row_number() over (partition by visits.deal_id order by visits.step) as integer) as visit_number,
        coalesce(stages.pipeline_id, case when visits.stage_id = deals.stage_id then deals.pipeline_id end)
            as pipeline_id,
        pipelines.pipeline_name,
        visits.stage_id,
        stages.stage_name,
        stages.stage_order_nr,
        visits.entered_at,
        coalesce(visits.moved_at, closed.closed_at) as exited_at,
        coalesce(visits.moved_at, closed.closed_at) - visits.entered_at as duration,
        cast(
            extract(epoch from coalesce(visits.moved_at, closed.closed_at) - visits.entered_at) / 86400.0
            as numeric(14, 4)
        ) as duration_days,
        case
            when visits.moved_at is not null then 'stage'
            else coalesce(closed.left_by, 'still_there')
        end as left_by,
        visits.next_stage_id,
        visits.moved_at is null and closed.left_by is null as is_current,
        visits.source,
        visits.is_history_complete,
        deals.owner_id,
        deals.status as deal_status,
        deals.is_deleted as deal_is_deleted,
        deals.add_time as deal_add_time
    from visits
    inner join deals on deals.deal_id = visits.deal_id
    left join stages on stages.stage_id = visits.stage_id
    left join pipelines
        on pipelines.pipeline_id = coalesce(
            stages.pipeline_id, case when visits.stage_id = deals.stage_id then deals.pipeline_id end
        )
    left join closed
        on closed.deal_id = visits.deal_id
        and visits.moved_at is null
    -- a deal without a stage or a creation time (not something Pipedrive sends) has no visit to show
    where visits.stage_id is not null
        and visits.entered_at is not null

)

select * from final
