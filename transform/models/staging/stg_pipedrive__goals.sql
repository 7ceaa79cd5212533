{#- Everyone's goals, active and inactive; goals no longer in Pipedrive flagged. -#}
with source as (

    {{ pipeboard_read_source('goals').sql }}

),

final as (

    select
        id,
        title,
        type_name,
        owner_id,
        assignee_type,
        assignee_id,
        pipeline_ids,
        activity_type_ids,
        interval,
        duration_start,
        duration_end,
        expected_outcome_target as target,
        expected_outcome_tracking_metric as tracking_metric,
        expected_outcome_currency_id as target_currency_id,
        coalesce(is_active, false) as is_active,
        {{ pipeboard_is_deleted('false') }} as is_deleted
    from source

)

select * from final
