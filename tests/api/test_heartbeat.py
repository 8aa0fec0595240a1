def test_heartbeat_answers_ack_without_a_token(anon_api):
    response = anon_api.get("/heartbeat")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == "ACK"


def test_unknown_path_is_a_json_404(api):
    response = api.get("/storage/no_such_operation")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_known_path_with_trailing_slash_redirects_307(api):
    response = api.get("/storage/query_storage/", {"storage_name": "x"})
    assert response.status_code == 307
    assert response["Location"] == "/storage/query_storage?storage_name=x"


def test_wrong_method_is_405(api):
    response = api.post("/storage/query_storage")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
