{#- Each goal's progress from its start to the day it was read; results of goals no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('goal_results').sql }}

),

final as (

    select
        goal_id,
        period_start,
        period_end,
        progress,
        progress_ratio,
        read_at,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
