//! `/v1/accounts/{a}/consumption`: batch ingestion, the detailed list, its
//! totals, and the streamed CSV/HTML/PDF export.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::documents::FileBytes;
use super::extract::{BulkJson, PageQuery, Paginated};
use super::scope::AccountScope;
use crate::AppState;
use crate::domain::consumption::{
    Bound, Direction, Filter, Kind, Position, Record, Selection, Totals,
};
use crate::domain::ids::{AccountId, TeamId, UserId};
use crate::domain::money::{Currency, Money};
use crate::error::{ApiError, FieldErrors, Problem};
use crate::render::Lang;
use crate::render::consumption::{ExportWriter, Format, Heading};
use crate::service::consumption::{self, IngestOutcome, MAX_BATCH, RecordInput};

/// A call or an SMS as the telephony platform sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// The platform's id; a record already stored under it is skipped.
    #[schema(min_length = 1, max_length = 100, example = "cdr-20260409-000123")]
    pub external_id: String,
    /// RFC 3339; kept to the second.
    #[schema(format = DateTime, example = "2026-04-09T08:15:00Z")]
    pub occurred_at: String,
    /// A user of the account; the record takes the user's current team.
    #[schema(example = "usr_0193c0ffee")]
    pub user_id: String,
    #[schema(value_type = Kind)]
    pub kind: String,
    #[schema(value_type = Direction)]
    pub direction: String,
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+33184800123")]
    pub destination: String,
    /// ISO 3166-1 alpha-2 of the destination.
    #[schema(value_type = crate::domain::address::Country, example = "FR")]
    pub country: String,
    #[schema(minimum = 0, maximum = 86400, example = 125)]
    pub duration_seconds: i64,
    /// Out-of-plan cost in the account's currency, `"0.00"` when in the
    /// plan: 0.00 to 10000.00, at most 2 decimals.
    #[schema(
        pattern = r"^0*([0-9]{1,4}(\.[0-9]{1,2})?|10000(\.0{1,2})?)$",
        example = "0.35"
    )]
    pub cost: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// 1 to 10,000 records; one bad record rejects the batch.
    #[schema(min_items = 1, max_items = 10000)]
    pub records: Vec<RecordRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestDto {
    pub inserted: usize,
    /// Records already stored (or repeated in the batch), skipped.
    pub duplicates: usize,
    /// Paid from the credit balance.
    #[schema(example = "12.40")]
    pub covered_by_credits: String,
    /// Not covered: on the next invoice.
    #[schema(example = "0.00")]
    pub billable: String,
    pub currency: Currency,
}

impl From<IngestOutcome> for IngestDto {
    fn from(o: IngestOutcome) -> Self {
        IngestDto {
            inserted: o.inserted,
            duplicates: o.duplicates,
            currency: o.billable.currency(),
            covered_by_credits: o.covered_by_credits.amount(),
            billable: o.billable.amount(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecordDto {
    pub id: String,
    pub external_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub user_id: String,
    pub team_id: Option<String>,
    pub kind: Kind,
    pub direction: Direction,
    #[schema(example = "+33184800123")]
    pub destination: String,
    #[schema(value_type = crate::domain::address::Country, example = "FR")]
    pub country: String,
    pub duration_seconds: i64,
    #[schema(example = "0.35")]
    pub cost: String,
    /// The part of the cost the credits did not cover.
    #[schema(example = "0.00")]
    pub billable: String,
    pub currency: Currency,
}

fn record_dto(r: Record, currency: Currency) -> RecordDto {
    RecordDto {
        id: r.id.to_string(),
        external_id: r.external_id,
        occurred_at: r.occurred_at,
        user_id: r.user_id.to_string(),
        team_id: r.team_id.map(|t| t.to_string()),
        kind: r.kind,
        direction: r.direction,
        destination: r.destination,
        country: r.country,
        duration_seconds: r.duration_seconds,
        cost: Money::from_minor(r.cost_minor, currency).amount(),
        billable: Money::from_minor(r.billable_minor, currency).amount(),
        currency,
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TotalsDto {
    pub count: i64,
    pub duration_seconds: i64,
    #[schema(example = "12.40")]
    pub cost: String,
    #[schema(example = "0.00")]
    pub billable: String,
}

fn totals_dto(t: Totals, currency: Currency) -> TotalsDto {
    TotalsDto {
        count: t.count,
        duration_seconds: t.duration_seconds,
        cost: Money::from_minor(t.cost_minor, currency).amount(),
        billable: Money::from_minor(t.billable_minor, currency).amount(),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserTotalsDto {
    pub user_id: String,
    /// The user's name, or its id once deleted.
    pub name: String,
    #[serde(flatten)]
    pub totals: TotalsDto,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TeamTotalsDto {
    /// Null for the records of users in no team.
    pub team_id: Option<String>,
    pub name: Option<String>,
    #[serde(flatten)]
    pub totals: TotalsDto,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryDto {
    pub total: TotalsDto,
    pub by_user: Vec<UserTotalsDto>,
    pub by_team: Vec<TeamTotalsDto>,
    pub currency: Currency,
}

/// The selection: `from` and `to` are dates in the account's timezone (`to`
/// included whole) or RFC 3339 instants (`from` included, `to` excluded).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumptionFilter {
    /// `2026-04-01` or `2026-04-01T00:00:00+02:00`.
    #[param(schema_with = date_or_instant, example = "2026-04-01")]
    pub from: Option<String>,
    /// `2026-04-30` (the whole day) or an instant (excluded).
    #[param(schema_with = date_or_instant, example = "2026-04-30")]
    pub to: Option<String>,
    #[param(max_length = 100)]
    pub team_id: Option<String>,
    #[param(max_length = 100)]
    pub user_id: Option<String>,
    pub kind: Option<Kind>,
}

/// A civil date (`format: date`) or an RFC 3339 instant (`format: date-time`).
fn date_or_instant() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let string = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
    };
    OneOfBuilder::new()
        .item(string(KnownFormat::Date))
        .item(string(KnownFormat::DateTime))
        .build()
        .into()
}

impl ConsumptionFilter {
    fn selection(&self) -> Result<Selection, ApiError> {
        let mut v = FieldErrors::default();
        const BOUND: &str = "must be a date (YYYY-MM-DD) or an RFC 3339 instant";
        let selection = Selection {
            from: v.check_opt("from", self.from.as_deref(), Bound::parse, BOUND),
            to: v.check_opt("to", self.to.as_deref(), Bound::parse, BOUND),
            user_id: v.check_opt(
                "user_id",
                self.user_id.as_deref(),
                UserId::parse,
                "must be a user id",
            ),
            team_id: v.check_opt(
                "team_id",
                self.team_id.as_deref(),
                TeamId::parse,
                "must be a team id",
            ),
            kind: self.kind,
        };
        v.finish()?;
        Ok(selection)
    }

    /// The selection in words, for the title of an export.
    fn describe(&self, lang: Lang) -> String {
        let (all, from, to) = match lang {
            Lang::Fr => ("Toute la période", "du", "au"),
            Lang::En => ("All time", "from", "to"),
        };
        let mut parts = Vec::new();
        if let Some(f) = &self.from {
            parts.push(format!("{from} {f}"));
        }
        if let Some(t) = &self.to {
            parts.push(format!("{to} {t}"));
        }
        if parts.is_empty() {
            parts.push(all.to_owned());
        }
        parts.join(" ")
    }
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Html,
    Pdf,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    #[param(inline)]
    pub format: ExportFormat,
}

/// Ingest a batch of calls and SMS (integration, support). All or nothing:
/// one bad record rejects the batch with each bad record named
/// (`records.{index}.{field}`). Records whose `external_id` is already stored
/// are skipped and counted, so re-sending a batch is safe. Out-of-plan costs
/// are paid from credits as far as they go; the rest is billable on the next
/// invoice.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/consumption", operation_id = "ingest_consumption", tag = "consumption",
    request_body = IngestRequest,
    responses(
        (status = 200, description = "What the batch added", body = IngestDto),
        (status = 403, description = "Only integrations and staff ingest consumption", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ingest(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    body: BulkJson<IngestRequest>,
) -> Result<HttpResponse, ApiError> {
    let records = body.0.records;
    if records.is_empty() || records.len() > MAX_BATCH {
        return Err(ApiError::validation(
            "records",
            format!("must hold 1 to {MAX_BATCH} records"),
        ));
    }
    let inputs: Vec<RecordInput> = records
        .into_iter()
        .map(|r| RecordInput {
            external_id: r.external_id,
            occurred_at: r.occurred_at,
            user_id: r.user_id,
            kind: r.kind,
            direction: r.direction,
            destination: r.destination,
            country: r.country,
            duration_seconds: r.duration_seconds,
            cost: r.cost,
        })
        .collect();
    let outcome = consumption::ingest(&state.store, &ctx, &account, &inputs).await?;
    Ok(HttpResponse::Ok().json(IngestDto::from(outcome)))
}

/// `?limit=&cursor=` on the consumption list, whose cursor is a position
/// in time order: `<unix seconds>_<record id>`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumptionPageQuery {
    /// How many records to return: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,11}_cns_[A-Za-z0-9]{1,64}$")]
    pub cursor: Option<String>,
}

fn parse_position(query: &ConsumptionPageQuery) -> Result<(Option<Position>, u32), ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let after = match page.after.as_deref() {
        None => None,
        Some(raw) => Some(Position::decode(raw).ok_or_else(|| {
            ApiError::validation("cursor", "is not a cursor returned by this list")
        })?),
    };
    Ok((after, page.limit))
}

/// The detailed consumption, oldest first, filtered by date range, team,
/// user and kind.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/consumption", operation_id = "list_consumption", tag = "consumption",
    params(ConsumptionFilter, ConsumptionPageQuery),
    responses(
        (status = 200, description = "A page of records", body = Paginated<RecordDto>),
        (status = 403, description = "Integrations cannot read consumption", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<ConsumptionFilter>,
    query: web::Query<ConsumptionPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let selection = filter.selection()?;
    let (after, limit) = parse_position(&query)?;
    let (acc, page) =
        consumption::list(&state.store, &account, &selection, after.as_ref(), limit).await?;
    let currency = acc.currency;
    Ok(HttpResponse::Ok().json(Paginated::map(
        page,
        |r| {
            Position {
                occurred_at: r.occurred_at,
                id: r.id.clone(),
            }
            .encode()
        },
        |r| record_dto(r, currency),
    )))
}

/// Totals of the selection: overall, by user and by team.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/consumption/summary", operation_id = "consumption_summary", tag = "consumption",
    params(ConsumptionFilter),
    responses(
        (status = 200, description = "The totals", body = SummaryDto),
        (status = 403, description = "Integrations cannot read consumption", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn summary(
    state: web::Data<AppState>,
    AccountScope { account, .. }: AccountScope,
    filter: web::Query<ConsumptionFilter>,
) -> Result<HttpResponse, ApiError> {
    let s = consumption::summary(&state.store, &account, &filter.selection()?).await?;
    let currency = s.account.currency;
    Ok(HttpResponse::Ok().json(SummaryDto {
        total: totals_dto(s.totals.total, currency),
        by_user: s
            .totals
            .by_user
            .into_iter()
            .map(|(id, t)| UserTotalsDto {
                name: s.names.user(&id).to_owned(),
                user_id: id.to_string(),
                totals: totals_dto(t, currency),
            })
            .collect(),
        by_team: s
            .totals
            .by_team
            .into_iter()
            .map(|(id, t)| TeamTotalsDto {
                name: id.as_ref().map(|t| s.names.team(Some(t)).to_owned()),
                team_id: id.map(|t| t.to_string()),
                totals: totals_dto(t, currency),
            })
            .collect(),
        currency,
    }))
}

/// Export the selection as CSV (RFC 4180, the API's field names), a
/// standalone printable HTML page, or a PDF (page headers, page numbers,
/// totals at the end). HTML and PDF are in French unless `Accept-Language`
/// asks for English. The file is streamed as it is read, whatever its size.
#[utoipa::path(get, path = "/v1/accounts/{account_id}/consumption/export", operation_id = "export_consumption", tag = "consumption",
    params(ExportQuery, ConsumptionFilter,
        ("Accept-Language" = Option<String>, Header, description = "`en` for English; French otherwise")),
    responses(
        (status = 200, description = "The file, streamed",
            content((String = "text/csv"), (String = "text/html"), (FileBytes = "application/pdf")),
            headers(("Content-Disposition" = String, description = "attachment; filename=..."))),
        (status = 403, description = "Integrations cannot read consumption", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    state: web::Data<AppState>,
    AccountScope { ctx, account }: AccountScope,
    req: HttpRequest,
    format: web::Query<ExportQuery>,
    query: web::Query<ConsumptionFilter>,
) -> Result<HttpResponse, ApiError> {
    let selection = query.selection()?;
    let format = match format.format {
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Html => Format::Html,
        ExportFormat::Pdf => Format::Pdf,
    };
    let lang = Lang::from_request(&req);
    let export = consumption::start_export(&state.store, &account, &selection).await?;
    let day = export.account.timezone.date_at(ctx.now);
    let filename = format!("consumption-{}-{day}.{}", account, format.extension());
    let heading = Heading {
        selection: query.describe(lang),
        account: export.account,
        generated_at: ctx.now,
        count: export.count,
    };
    let writer = ExportWriter::new(format, lang, heading, export.names);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(4);
    let store = state.store.clone();
    spawn_guarded(
        stream_export(
            store,
            account.id().clone(),
            export.filter,
            writer,
            sender.clone(),
        ),
        sender,
    );
    let body = futures_util::stream::unfold(receiver, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = HttpResponse::Ok();
    response
        .content_type(format.content_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if format == Format::Html {
        response.insert_header((
            header::CONTENT_SECURITY_POLICY,
            crate::render::HTML_CONTENT_SECURITY_POLICY,
        ));
    }
    Ok(response.streaming(body))
}

/// Runs `task`, which streams a body through `sender`; if it panics, the body
/// ends with an error, so the client sees a broken transfer, never a clean
/// end of a truncated file (a dropped sender alone would end it cleanly).
fn spawn_guarded(
    task: impl std::future::Future<Output = ()> + 'static,
    sender: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
) {
    let running = actix_web::rt::spawn(task);
    actix_web::rt::spawn(async move {
        if running.await.is_err() {
            tracing::error!("consumption export panicked");
            let _ = sender
                .send(Err(std::io::Error::other("export failed")))
                .await;
        }
    });
}

/// Reads the selection chunk by chunk and sends each rendered chunk; stops
/// when the client goes away. A database error mid-way ends the body with an
/// error, so the client sees a broken transfer rather than a short file.
async fn stream_export(
    store: crate::store::Store,
    account: AccountId,
    filter: Filter,
    mut writer: ExportWriter,
    sender: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
) {
    let send = |bytes: Vec<u8>| {
        let sender = sender.clone();
        async move {
            if bytes.is_empty() {
                return true;
            }
            sender.send(Ok(web::Bytes::from(bytes))).await.is_ok()
        }
    };
    if !send(writer.start()).await {
        return;
    }
    // The next chunk is read while this one is rendered and sent.
    let fetch = |after: Option<Position>| {
        let (store, account, filter) = (store.clone(), account.clone(), filter.clone());
        actix_web::rt::spawn(async move {
            consumption::export_chunk(&store, &account, &filter, after.as_ref()).await
        })
    };
    let mut pending = Some(fetch(None));
    while let Some(chunk) = pending.take() {
        let rows = match chunk.await {
            Ok(Ok(rows)) => rows,
            failed => {
                let error = failed.map_or_else(
                    |e| e.to_string(),
                    |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                );
                tracing::error!(%error, "consumption export failed");
                let _ = sender
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
                return;
            }
        };
        if rows.len() == consumption::EXPORT_CHUNK as usize {
            pending = Some(fetch(rows.last().map(|r| Position {
                occurred_at: r.occurred_at,
                id: r.id.clone(),
            })));
        }
        let bytes = match writer.rows(&rows) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "consumption export totals out of range");
                let _ = sender
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
                return;
            }
        };
        if !send(bytes).await {
            return;
        }
    }
    send(writer.finish()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(
        task: impl std::future::Future<Output = ()> + 'static,
        sender: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
        mut receiver: tokio::sync::mpsc::Receiver<Result<web::Bytes, std::io::Error>>,
    ) -> Vec<Result<web::Bytes, String>> {
        spawn_guarded(task, sender);
        let mut items = Vec::new();
        while let Some(item) = receiver.recv().await {
            items.push(item.map_err(|e| e.to_string()));
        }
        items
    }

    #[actix_web::test]
    async fn a_panic_while_streaming_ends_the_body_with_an_error_not_a_clean_end() {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let streaming = sender.clone();
        let items = body_of(
            async move {
                let _ = streaming.send(Ok(web::Bytes::from("date;user\n"))).await;
                panic!("a renderer bug");
            },
            sender,
            receiver,
        )
        .await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items[0].is_ok());
        assert_eq!(items[1], Err("export failed".to_owned()));
    }

    #[actix_web::test]
    async fn a_finished_stream_ends_cleanly() {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let streaming = sender.clone();
        let items = body_of(
            async move {
                let _ = streaming.send(Ok(web::Bytes::from("all"))).await;
            },
            sender,
            receiver,
        )
        .await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }
}
