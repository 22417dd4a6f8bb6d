-- PII stops here: e-mail and phone leave staging only as SHA-256 hashes of their
-- normalised form, usable for joins and de-duplication but not readable.
with source as (
    select * from {{ source('raw', 'users') }}
),

renamed as (
    select
        customer_id,
        signed_up_at,
        cast(signed_up_at as date) as signup_date,
        case when email is not null then {{ sha256_hex('lower(trim(email))') }} end as email_hash,
        case when phone is not null then {{ sha256_hex(digits_only('phone')) }} end as phone_hash,
        city,
        acquisition_channel,
        dt as ingested_date
    from source
)

select * from renamed
