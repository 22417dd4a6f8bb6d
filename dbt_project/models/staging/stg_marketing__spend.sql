with source as (
    select * from {{ source('raw', 'marketing_spend') }}
),

renamed as (
    select
        spend_date,
        channel,
        campaign,
        spend,
        coalesce(impressions, 0) as impressions,
        coalesce(clicks, 0) as clicks,
        dt as ingested_date
    from source
)

select * from renamed
