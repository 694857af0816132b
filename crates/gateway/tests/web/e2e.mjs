// Drives two gateways' web inboxes in headless Chromium at a phone's width: a clerk of the
// Government Office logs in (after a wrong password), sends a document with a file to Nghệ An
// and a second agency;
// a clerk of Nghệ An finds it in the inbox, opens it, downloads the file, is told that a
// refusal needs a reason, answers with status 03, and agrees (15) to the recall of an earlier
// document, which then shows as recalled; back at the Office, the outbox shows 03.
// Then the English pages, and logout. Run by crates/gateway/tests/web.rs, which passes the
// sites, logins and document as JSON in LIENTHONG_E2E and checks the stores afterwards.
//
// Chromium trusts the test servers' certificates by their public keys (SPKI hashes) only; no
// certificate error is ignored otherwise.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.env.LIENTHONG_E2E ?? '{}');
const { office, ngheAn, second, recall, document: doc, screenshots } = config;
const PHONE = { width: 390, height: 844 };
const WAIT_MS = 60_000;

mkdirSync(screenshots, { recursive: true });
const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: [`--ignore-certificate-errors-spki-list=${config.spki.join(',')}`],
});
const pages = [];

async function phone() {
  const context = await browser.newContext({
    viewport: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: 'vi-VN',
    timezoneId: 'Asia/Ho_Chi_Minh',
    acceptDownloads: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  pages.push(page);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `${name}: the page is ${width}px wide, wider than the phone's ${PHONE.width}px`);
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

/** Reloads `url` until `selector` shows `expected`. */
async function until(page, url, selector, expected) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    await page.goto(url);
    const found = await page.locator(selector).filter({ hasText: expected }).count();
    if (found > 0) return;
    assert.ok(Date.now() < deadline, `${url}: ${JSON.stringify(expected)} did not appear in ${selector}`);
    await page.waitForTimeout(500);
  }
}

async function login(page, site, password) {
  await page.goto(`${site.url}/web/`);
  assert.match(page.url(), /\/web\/login$/, 'signed out, the inbox sends you to the login');
  await page.fill('#name', site.user);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
}

async function main() {
  // Five wrong passwords in a row lock a name (here one that does not exist: it is locked the
  // same way, so the lockout does not tell which names exist).
  const stranger = await phone();
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    await login(stranger, { ...office, user: 'khong-co-ai' }, 'mật khẩu sai');
  }
  assert.match(await text(stranger, '.error'), /tạm khóa vì nhập sai mật khẩu 5 lần liên tiếp.*giờ Việt Nam, UTC\+07:00/);
  await shot(stranger, '00-login-locked');

  // The Government Office: a wrong password first, then the right one.
  const office_page = await phone();
  await login(office_page, office, `${office.password}x`);
  assert.match(office_page.url(), /\/web\/login$/);
  assert.match(await text(office_page, '.error'), /Tên đăng nhập hoặc mật khẩu không đúng/);
  await shot(office_page, '01-login-wrong-password');
  await login(office_page, office, office.password);
  assert.match(office_page.url(), /\/web\/inbox$/);
  assert.equal(await text(office_page, 'h1'), 'Văn bản đến');
  await shot(office_page, '02-office-inbox-empty');

  // Send a document with its file to Nghệ An.
  await office_page.click('nav a[href="/web/send"]');
  await office_page.check(`input[name=to][value="${ngheAn.code}"]`);
  await office_page.check(`input[name=to][value="${second.code}"]`);
  await office_page.fill('#number', doc.number);
  await office_page.selectOption('#doc_type', 'Công văn');
  await office_page.fill('#subject', doc.subject);
  await office_page.fill('#content', doc.content);
  await office_page.fill('#signer', doc.signer);
  await office_page.selectOption('#priority', '1');
  await office_page.setInputFiles('#file', {
    name: doc.file_name,
    mimeType: 'application/pdf',
    buffer: Buffer.from(doc.file_base64, 'base64'),
  });
  await shot(office_page, '03-send-form');
  await office_page.click('main form button[type=submit]');
  assert.match(office_page.url(), /\/web\/outbox\?sent=/);
  assert.match(await text(office_page, '.notice'), /Đã nhận văn bản để gửi/);
  assert.equal(await text(office_page, '.item .subject'), doc.subject, 'the subject shows as typed, escaped');
  const recipients = await office_page.locator('.item').first().locator('.recipients li').allInnerTexts();
  assert.equal(recipients.length, 2, `two recipients: ${recipients}`);
  assert.ok(recipients.some((r) => r.includes('UBND tỉnh Nghệ An')) && recipients.some((r) => r.includes(second.name)));
  await shot(office_page, '04-office-outbox-sent');

  // Nghệ An: the document arrives, is read, its file downloaded.
  const nghe_an = await phone();
  await login(nghe_an, ngheAn, ngheAn.password);
  assert.match(nghe_an.url(), /\/web\/inbox$/);
  await until(nghe_an, `${ngheAn.url}/web/inbox`, '.item .subject', doc.subject);
  const item = nghe_an.locator('.item').filter({ hasText: doc.subject });
  assert.match(await item.innerText(), /Từ: Văn phòng Chính phủ \(000\.00\.00\.G22\)/);
  assert.match(await item.innerText(), new RegExp(doc.number.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
  assert.equal(await nghe_an.locator('main b, main script').count(), 0, 'no markup from the subject');
  await shot(nghe_an, '05-nghe-an-inbox');
  await item.locator('a').click();
  assert.equal(await text(nghe_an, 'h1'), doc.subject);
  const details = await text(nghe_an, '.details');
  for (const expected of [doc.number, 'Công văn', 'Văn phòng Chính phủ', doc.signer, 'Khẩn', doc.content]) {
    assert.ok(details.includes(expected), `the details show ${expected}: ${details}`);
  }
  const [download] = await Promise.all([nghe_an.waitForEvent('download'), nghe_an.click('.files a')]);
  assert.equal(download.suggestedFilename(), doc.file_name);
  assert.deepEqual(readFileSync(await download.path()), Buffer.from(doc.file_base64, 'base64'));
  await shot(nghe_an, '06-nghe-an-read');

  // A refusal without a reason is refused; then the clerk accepts the document (03).
  const reader = nghe_an.url();
  await nghe_an.selectOption('#code', '02');
  await nghe_an.click('form.card button[type=submit]');
  assert.match(await text(nghe_an, '.error'), /phải nêu lý do/);
  await shot(nghe_an, '07-refusal-needs-a-reason');
  await nghe_an.goto(reader);
  await nghe_an.selectOption('#code', '03');
  await nghe_an.fill('#description', doc.note);
  await nghe_an.click('form.card button[type=submit]');
  assert.match(nghe_an.url(), /answered=03$/);
  assert.match(await text(nghe_an, '.notice'), /Đã gửi trạng thái 03 Đã tiếp nhận/);
  assert.match(await text(nghe_an, '.history'), /03 Đã tiếp nhận/);
  await shot(nghe_an, '08-nghe-an-answered');
  await nghe_an.goto(`${ngheAn.url}/web/inbox`);
  assert.match(await text(nghe_an, '.item .status'), /^03 Đã tiếp nhận/);

  // The recall of an earlier document: agreed (15); the document then shows as recalled.
  const recallItem = nghe_an.locator('.item').filter({ has: nghe_an.locator('.status', { hasText: /^Thu hồi$/ }) });
  assert.ok((await recallItem.innerText()).includes(recall.subject.slice(0, 20)), 'the recall is listed');
  await recallItem.locator('a').click();
  assert.equal(await text(nghe_an, 'main h2:last-of-type'), 'Trả lời đề nghị thu hồi');
  assert.equal(await text(nghe_an, 'form.refuse button'), '16 — Từ chối thu hồi');
  await shot(nghe_an, '09-nghe-an-recall');
  await nghe_an.fill('#note', recall.note);
  await nghe_an.click('form.agree button');
  assert.match(nghe_an.url(), /answered=15$/);
  assert.match(await text(nghe_an, '.notice'), /Đã gửi trạng thái 15 — Đồng ý thu hồi/);
  await shot(nghe_an, '10-nghe-an-recall-agreed');
  await nghe_an.goto(`${ngheAn.url}/web/inbox`);
  const recalled = nghe_an.locator('.item').filter({ has: nghe_an.locator('.status', { hasText: /^Đã thu hồi$/ }) });
  await recalled.locator('a').click();
  assert.match(await text(nghe_an, '.recalled'), /đã được nơi gửi thu hồi; nội dung đã được hủy/);
  await shot(nghe_an, '11-nghe-an-recalled');

  // Back at the Office: the outbox shows Nghệ An's 03.
  await until(office_page, `${office.url}/web/outbox`, '.recipients .status', '03 Đã tiếp nhận');
  const fromNgheAn = (page) => page.locator('.item').first().locator('.recipients li').filter({ hasText: 'Nghệ An' });
  assert.match(await fromNgheAn(office_page).locator('.status').innerText(), new RegExp(`03 Đã tiếp nhận: ${doc.note}`));
  const fromSecond = await office_page.locator('.item').first().locator('.recipients li').filter({ hasText: second.name });
  assert.match(await fromSecond.innerText(), /Chưa có phản hồi/, 'the second recipient has not collected it');
  await shot(office_page, '12-office-outbox-status-03');

  // In English, remembered across pages.
  await office_page.goto(`${office.url}/web/outbox?lang=en`);
  assert.equal(await text(office_page, 'h1'), 'Outbox');
  assert.match(await fromNgheAn(office_page).locator('.status').innerText(), /^03 Accepted/);
  await shot(office_page, '13-office-outbox-english');
  await office_page.click('nav a[href="/web/inbox"]');
  assert.equal(await text(office_page, 'h1'), 'Inbox');

  // Logging out ends the session.
  await office_page.click('.logout button');
  assert.match(office_page.url(), /\/web\/login$/);
  await office_page.goto(`${office.url}/web/outbox`);
  assert.match(office_page.url(), /\/web\/login$/, 'after logout, pages ask to log in again');
}

try {
  await main();
  console.log('e2e: ok');
} catch (error) {
  for (const [index, page] of pages.entries()) {
    await page.screenshot({ path: path.join(screenshots, `failure-${index}.png`), fullPage: true }).catch(() => {});
    console.error(`page ${index} at ${page.url()}:\n${(await page.content().catch(() => '')).slice(0, 4000)}`);
  }
  console.error(error);
  process.exitCode = 1;
} finally {
  await browser.close();
}
