/* builtin.c - see builtin.h. The data is JSON in the same form a user
 * imports, so the built-ins pass the same validation. */
#include "store/builtin.h"

#include "store/persona.h"
#include "store/template.h"
#include "engine/base/util.h"

#include <string.h>

static const char *const personas[] = {
    "{\"name\": \"assistant\", \"description\": \"Neutral, helpful default.\","
    " \"system_prompt\": \"You are a helpful assistant. Answer accurately and plainly; say so "
    "when you do not know.\","
    " \"style\": {\"tone\": \"neutral\", \"length\": \"medium\", \"language\": \"en\"}}",

    "{\"name\": \"analyst\", \"description\": \"Structured, evidence-first analysis.\","
    " \"system_prompt\": \"You are a careful analyst. Separate facts from assumptions, quantify "
    "where you can, list risks and open questions, and end with a short recommendation.\","
    " \"style\": {\"tone\": \"precise\", \"length\": \"medium\", \"language\": \"en\"}}",

    "{\"name\": \"engineer\", \"description\": \"Terse, technical, decision-oriented.\","
    " \"system_prompt\": \"You are a senior software engineer. Be concrete and brief: name the "
    "decision, the trade-offs, the owners and the next steps. Prefer code and exact commands "
    "to prose.\","
    " \"style\": {\"tone\": \"direct\", \"length\": \"short\", \"language\": \"en\"}}",

    "{\"name\": \"coach\", \"description\": \"Supportive, growth-focused feedback.\","
    " \"system_prompt\": \"You are a supportive coach. Notice what went well, ask one good "
    "question, and suggest small, specific next steps. Be warm but honest.\","
    " \"style\": {\"tone\": \"warm\", \"length\": \"medium\", \"language\": \"en\"}}",
};

#define SEC(t, i, f) "{\"title\": \"" t "\", \"instruction\": \"" i "\", \"format\": \"" f "\"}"

static const char *const templates[] = {
    "{\"name\": \"standup\", \"description\": \"Daily stand-up: progress, plans, blockers.\","
    " \"sections\": [" SEC(
        "Done", "What each person finished since the last stand-up.",
        "list") "," SEC("Next", "What each person plans to do next.",
                        "list") "," SEC("Blockers", "Anything blocking progress, and who can help.",
                                        "list") "]}",

    "{\"name\": \"one-on-one\", \"description\": \"A one-on-one conversation.\","
    " \"sections\": [" SEC(
        "Summary", "The main topics discussed, in a few sentences.",
        "paragraph") "," SEC("Feedback", "Feedback given in either direction.",
                             "list") "," SEC("Growth",
                                             "Goals, career topics and support asked for.",
                                             "list") "," SEC("Action items",
                                                             "Who does what by when.",
                                                             "table") "]}",

    "{\"name\": \"project-sync\", \"description\": \"Cross-team project status meeting.\","
    " \"sections\": [" SEC(
        "Status", "Overall project status and progress against milestones.",
        "paragraph") "," SEC("Decisions", "Decisions made, with their reasons.",
                             "list") "," SEC("Risks",
                                             "Risks and issues, with owners and mitigations.",
                                             "table") "," SEC("Action items",
                                                              "Who does what by when.",
                                                              "table") "]}",

    "{\"name\": \"retrospective\", \"description\": \"Looking back on an iteration.\","
    " \"sections\": [" SEC("Went well", "What worked and should continue.", "list") "," SEC(
        "To improve", "What did not work and why.",
        "list") "," SEC("Experiments", "Changes the team agreed to try next.", "list") "]}",

    "{\"name\": \"customer-call\", \"description\": \"A call with a customer.\","
    " \"sections\": [" SEC(
        "Context", "Who the customer is and why they called.",
        "paragraph") "," SEC("Needs", "Problems, requests and pain points raised.",
                             "list") "," SEC("Commitments", "What was promised, by whom, by when.",
                                             "table") "," SEC("Follow-up",
                                                              "Next steps and open questions.",
                                                              "list") "]}",

    "{\"name\": \"lecture-notes\", \"description\": \"Notes from a lecture or talk.\","
    " \"sections\": [" SEC(
        "Overview", "The topic and main argument in a few sentences.",
        "paragraph") "," SEC("Key points", "The key ideas, definitions and examples, in order.",
                             "list") "," SEC("Terms", "Important terms and their meanings.",
                                             "table") "," SEC("Questions",
                                                              "Open questions and things to "
                                                              "review.",
                                                              "list") "]}",
};

int builtin_seed(Store *st) {
    for (size_t i = 0; i < sizeof personas / sizeof personas[0]; i++) {
        Persona p;
        if (persona_parse_json(personas[i], strlen(personas[i]), "built-in persona", &p) != 0)
            return -1;
        p.builtin = 1;
        int rc = store_persona_add(st, &p);
        persona_free(&p);
        if (rc) return -1;
    }
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        Template t;
        if (template_parse_json(templates[i], strlen(templates[i]), "built-in template", &t) != 0)
            return -1;
        t.builtin = 1;
        int rc = store_template_add(st, &t);
        template_free(&t);
        if (rc) return -1;
    }
    return 0;
}
