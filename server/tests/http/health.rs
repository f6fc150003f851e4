use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await, (200, "ok".to_owned()));
}
