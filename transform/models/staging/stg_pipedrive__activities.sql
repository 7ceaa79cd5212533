{#- Live (not deleted) activities attached to a deal, with their type's display name and due moment. -#}
with source as (

    {{ pipeboard_read_source('activities').sql }}

),

activity_types as (

    select * from {{ ref('stg_pipedrive__activity_types') }}

),

final as (

    select
        source.id,
        source.deal_id,
        source.type,
        coalesce(activity_types.name, source.type) as type_name,
        source.subject,
        coalesce(source.done, false) as done,
        source.due_date,
        cast(nullif(source.due_time, '') as time) as due_time,
        -- Pipedrive keeps due dates and times in UTC; an activity without a time is due by the end of its day
        case
            when nullif(source.due_time, '') is not null
                then (source.due_date + cast(source.due_time as time)) at time zone 'UTC'
            else (source.due_date + 1) at time zone 'UTC'
        end as due_at,
        source.marked_as_done_time,
        source.add_time
    from source
    left join activity_types on activity_types.key_string = source.type
    where source.deal_id is not null
        and not {{ pipeboard_is_deleted('source.is_deleted') }}

)

select * from final
