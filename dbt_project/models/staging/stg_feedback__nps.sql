with source as (
    select * from {{ source('raw', 'nps_surveys') }}
),

renamed as (
    select
        response_id,
        customer_id,
        responded_at,
        cast(responded_at as date) as response_date,
        score,
        case when score >= 9 then 'promoter' when score >= 7 then 'passive' else 'detractor' end as nps_group,
        comment,
        dt as ingested_date
    from source
)

select * from renamed
