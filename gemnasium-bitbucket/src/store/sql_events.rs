//! [`EventStore`](crate::store::EventStore) in SQL for both database backends (the statements
//! are the same on SQLite and PostgreSQL), kept apart from the main store macro.

macro_rules! impl_sql_events {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::EventStore for $store {
            async fn claim_delivery(
                &self,
                request: &$crate::model::RequestUuid,
                now: chrono::DateTime<chrono::Utc>,
                retention: chrono::Duration,
            ) -> Result<$crate::store::DeliveryClaim, $crate::store::StoreError> {
                use $crate::store::events::{from_millis, oldest_kept, to_millis};
                $crate::store::sql::retry_transient!(async {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("DELETE FROM webhook_deliveries WHERE received_ms < $1")
                        .bind(to_millis(oldest_kept(now, retention)))
                        .execute(&mut *tx)
                        .await?;
                    let inserted = sqlx::query(
                        "INSERT INTO webhook_deliveries (request_uuid, received_ms) VALUES ($1, $2) \
                         ON CONFLICT (request_uuid) DO NOTHING",
                    )
                    .bind(request.as_str())
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let claim = if inserted == 1 {
                        $crate::store::DeliveryClaim::First
                    } else {
                        let (first,): (i64,) = sqlx::query_as(
                            "SELECT received_ms FROM webhook_deliveries WHERE request_uuid = $1",
                        )
                        .bind(request.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        $crate::store::DeliveryClaim::Duplicate {
                            first_received: from_millis(first),
                        }
                    };
                    tx.commit().await?;
                    Ok(claim)
                })
            }

            async fn release_delivery(
                &self,
                request: &$crate::model::RequestUuid,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("DELETE FROM webhook_deliveries WHERE request_uuid = $1")
                    .bind(request.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn record_deprecation(
                &self,
                change: &str,
                announcement: Option<&str>,
                seen_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                let ms = $crate::store::events::to_millis(seen_at);
                // One statement: concurrent sightings add up without a transaction.
                sqlx::query(
                    "INSERT INTO deprecation_notices (change_ref, announcement, first_seen_ms, last_seen_ms, seen_count) \
                     VALUES ($1, $2, $3, $3, 1) ON CONFLICT (change_ref) DO UPDATE SET \
                     announcement = COALESCE($2, deprecation_notices.announcement), \
                     last_seen_ms = $3, seen_count = deprecation_notices.seen_count + 1",
                )
                .bind(change)
                .bind(announcement)
                .bind(ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn deprecations(
                &self,
            ) -> Result<Vec<$crate::store::DeprecationNotice>, $crate::store::StoreError> {
                use $crate::store::events::from_millis;
                let rows: Vec<(String, Option<String>, i64, i64, i64)> = sqlx::query_as(
                    "SELECT change_ref, announcement, first_seen_ms, last_seen_ms, seen_count \
                     FROM deprecation_notices ORDER BY change_ref",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(change, announcement, first, last, count)| {
                        $crate::store::DeprecationNotice {
                            change,
                            announcement,
                            first_seen: from_millis(first),
                            last_seen: from_millis(last),
                            count,
                        }
                    })
                    .collect())
            }

            async fn doctor_reported_at(
                &self,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::store::StoreError> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT value FROM store_meta WHERE name = $1")
                        .bind($crate::store::events::DOCTOR_REPORTED_AT)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row
                    .and_then(|(v,)| v.parse::<i64>().ok())
                    .map($crate::store::events::from_millis))
            }

            async fn set_doctor_reported_at(
                &self,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO store_meta (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = $2",
                )
                .bind($crate::store::events::DOCTOR_REPORTED_AT)
                .bind($crate::store::events::to_millis(at).to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_sql_events;
