export const id = 799;
export const ids = [799];
export const modules = {

/***/ 13799:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   requestMultipart: () => (/* binding */ requestMultipart)
/* harmony export */ });
/* harmony import */ var undici__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(46752);
/* harmony import */ var _net_http_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(59663);
/* harmony import */ var _net_retry_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(37893);
/* harmony import */ var _v1_answers_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(50744);
/* harmony import */ var _common_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(39026);
// request_sftp_access takes the public keys as a multipart file field, like curl -F.





async function requestMultipart(url, field, fileName, text, ctx, retryBaseMs) {
    return (0,_net_retry_js__WEBPACK_IMPORTED_MODULE_2__/* .withRetry */ .bD)(async () => {
        const form = new undici__WEBPACK_IMPORTED_MODULE_0__.FormData();
        form.append(field, new Blob([text], { type: 'text/plain' }), fileName);
        const res = await (0,undici__WEBPACK_IMPORTED_MODULE_0__/* .request */ .Em)(url, { method: 'POST', body: form, signal: ctx.signal, dispatcher: (0,_net_http_js__WEBPACK_IMPORTED_MODULE_1__/* .dispatcher */ .oh)() });
        const answerText = (await (0,_net_http_js__WEBPACK_IMPORTED_MODULE_1__/* .readBounded */ .CB)(res.body, 1024 * 1024)).toString('utf8');
        // The same framing and validation as every other v1 call (failures read whatever the status).
        const answer = (0,_net_http_js__WEBPACK_IMPORTED_MODULE_1__/* .parseJsonAnswer */ .oV)('request_sftp_access', res.statusCode, answerText, res.headers['retry-after'], true);
        return (0,_v1_answers_js__WEBPACK_IMPORTED_MODULE_3__/* .parseV1Answer */ .Fz)('request_sftp_access', answer.status, answer.body);
    }, {
        attempts: 5,
        baseMs: retryBaseMs ?? 2000,
        signal: ctx.signal,
        retryable: _common_js__WEBPACK_IMPORTED_MODULE_4__/* .retryableCall */ .dw,
    });
}


/***/ })

};
