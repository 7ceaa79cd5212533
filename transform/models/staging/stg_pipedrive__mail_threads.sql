{#- Mail threads of the API token's user's mailbox (Pipedrive shows no one else's), linked deal included. -#}
with source as (

    {{ pipeboard_read_source('mail_threads').sql }}

),

final as (

    select
        id,
        deal_id,
        user_id,
        subject,
        message_count,
        first_message_timestamp,
        last_message_timestamp,
        {{ pipeboard_is_deleted() }} as is_deleted
    from source

)

select * from final
