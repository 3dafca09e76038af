#[tokio::main]
async fn main() -> anyhow::Result<()> {
    coophost::cli::main().await
}
