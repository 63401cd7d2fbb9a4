// Hand-written (sdk/overlay/cpp): helpers the generated cpp-restsdk client lacks.
#pragma once

#include "TkaSdk/ApiClient.h"
#include "TkaSdk/ApiException.h"
#include "TkaSdk/model/Problem.h"

#include <cpprest/json.h>

#include <memory>
#include <mutex>
#include <sstream>

namespace tka {

/// The RFC 9457 problem body of an error answer (error_code, detail, request_id, errors), or
/// nullptr when the body is not a problem. Every tka error answer is application/problem+json.
inline std::shared_ptr<model::Problem> problemOf(const api::ApiException& e)
{
    auto content = e.getContent();
    if (!content)
    {
        return nullptr;
    }
    content->clear();
    content->seekg(0);
    std::stringstream text;
    text << content->rdbuf();
    content->clear();
    content->seekg(0);
    try
    {
        auto problem = std::make_shared<model::Problem>();
        if (problem->fromJson(web::json::value::parse(utility::conversions::to_string_t(text.str()))) && problem->statusIsSet())
        {
            return problem;
        }
    }
    catch (const std::exception&)
    {
    }
    return nullptr;
}

/// Remembers the status and headers of the last answer an ApiClient received: the way to read an
/// `ETag`, `Location` or `Idempotent-Replayed` with this generator, whose operations return only
/// the body. It installs the client's response handler; use one ApiClient per sequence of calls
/// whose headers you need (answers of concurrent calls on one client overwrite each other).
class LastResponse
{
public:
    explicit LastResponse(const std::shared_ptr<api::ApiClient>& client) : m_state(std::make_shared<State>())
    {
        auto state = m_state;
        client->setResponseHandler([state](web::http::status_code status, const web::http::http_headers& headers) {
            std::lock_guard<std::mutex> lock(state->mutex);
            state->status = status;
            state->headers = headers;
        });
    }

    web::http::status_code status() const
    {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        return m_state->status;
    }

    /// The header's value, or an empty string.
    utility::string_t header(const utility::string_t& name) const
    {
        std::lock_guard<std::mutex> lock(m_state->mutex);
        auto it = m_state->headers.find(name);
        return it == m_state->headers.end() ? utility::string_t() : it->second;
    }

private:
    struct State
    {
        std::mutex mutex;
        web::http::status_code status = 0;
        web::http::http_headers headers;
    };
    std::shared_ptr<State> m_state;
};

} // namespace tka
